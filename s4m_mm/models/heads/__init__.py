# Copyright (c) s4m-mm authors. All rights reserved.
from .sam_distill_mask2former_head import SAMDistillMask2FormerHead

__all__ = ['SAMDistillMask2FormerHead']
