# Copyright (c) s4m-mm authors. All rights reserved.
from .coco import (CheckedCOCO, NucleiDataset, S4MCityscapesDataset,
                   S4MCocoDataset)
from .coco_validation import AnnotationError, load_coco_json, validate_coco_dict
from .semi_split import split_cityscapes, split_coco

__all__ = [
    'AnnotationError', 'CheckedCOCO', 'NucleiDataset', 'S4MCityscapesDataset',
    'S4MCocoDataset', 'load_coco_json', 'split_cityscapes', 'split_coco',
    'validate_coco_dict'
]
