# Copyright (c) s4m-mm authors. All rights reserved.
from .timm_backbone import CheckpointMismatchError, TimmBackbone

__all__ = ['TimmBackbone', 'CheckpointMismatchError']
