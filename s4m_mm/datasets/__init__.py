# Copyright (c) s4m-mm authors. All rights reserved.
from .coco import (CheckedCOCO, NucleiDataset, S4MCityscapesDataset,
                   S4MCocoDataset)
from .coco_validation import (AnnotationError, load_coco_json,
                              validate_coco_dict)
from .image_folder import UnlabeledImageFolder
from .samplers import (RepeatFactorMultiSourceSampler,
                       repeat_factors_from_category_frequency)
from .semi_split import split_cityscapes, split_coco
from .transforms import ColorAugSSD

__all__ = [
    'AnnotationError', 'CheckedCOCO', 'ColorAugSSD', 'NucleiDataset',
    'RepeatFactorMultiSourceSampler', 'S4MCityscapesDataset', 'S4MCocoDataset',
    'load_coco_json', 'repeat_factors_from_category_frequency',
    'split_cityscapes', 'split_coco', 'UnlabeledImageFolder',
    'validate_coco_dict'
]
