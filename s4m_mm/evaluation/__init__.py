# Copyright (c) s4m-mm authors. All rights reserved.
from .pseudo_label_quality import match_masks, pseudo_label_quality

__all__ = ['match_masks', 'pseudo_label_quality']
