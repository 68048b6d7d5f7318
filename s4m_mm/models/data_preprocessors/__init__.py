# Copyright (c) s4m-mm authors. All rights reserved.
from .pseudo_label_mix import PseudoLabelMix

__all__ = ['PseudoLabelMix']
