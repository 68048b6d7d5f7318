# Copyright (c) s4m-mm authors. All rights reserved.
from .adaptive_random_paste import AdaptiveRandomPaste
from .base_batch_augment import BaseBatchAugment
from .strong_photometric_aug import StrongPhotometricAug

__all__ = ['AdaptiveRandomPaste', 'BaseBatchAugment', 'StrongPhotometricAug']
