# Copyright (c) s4m-mm authors. All rights reserved.
from .tensor_masks import TensorMasks

__all__ = ['TensorMasks']
