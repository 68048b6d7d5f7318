# Copyright (c) s4m-mm authors. All rights reserved.
from .teacher import copy_weights, ema_update, load_teacher_weights
from .weight_init import CheckedPretrainedInit

__all__ = [
    'CheckedPretrainedInit', 'copy_weights', 'ema_update',
    'load_teacher_weights'
]
