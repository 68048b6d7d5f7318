# Copyright (c) s4m-mm authors. All rights reserved.
from .s4m import S4M, multi_branch_preprocessor
from .sam_distill_mask2former import SAMDistillMask2Former

__all__ = ['S4M', 'SAMDistillMask2Former', 'multi_branch_preprocessor']
