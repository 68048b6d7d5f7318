# Copyright (c) s4m-mm authors. All rights reserved.
from .builders import (LITE_MEDSAM_CHECKPOINT, SAM_TYPES, SAMModel,
                       build_sam_model, load_sam_checkpoint)
from .sam_adapter import SAMAdapter

__all__ = [
    'SAMAdapter', 'SAMModel', 'SAM_TYPES', 'LITE_MEDSAM_CHECKPOINT',
    'build_sam_model', 'load_sam_checkpoint'
]
