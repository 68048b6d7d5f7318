# Copyright (c) s4m-mm authors. All rights reserved.
from .sam_pseudo_label_refiner import SAMPseudoLabelRefiner

__all__ = ['SAMPseudoLabelRefiner']
