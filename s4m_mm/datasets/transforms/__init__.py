# Copyright (c) s4m-mm authors. All rights reserved.
from .color_aug_ssd import ColorAugSSD

__all__ = ['ColorAugSSD']
