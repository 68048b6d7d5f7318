# Copyright (c) s4m-mm authors. All rights reserved.
from .synthetic_coco import (make_synthetic_coco, write_own_data,
                             write_synthetic_coco)

__all__ = ['make_synthetic_coco', 'write_own_data', 'write_synthetic_coco']
