# Copyright (c) s4m-mm authors. All rights reserved.
from .weight_init import CheckedPretrainedInit

__all__ = ['CheckedPretrainedInit']
