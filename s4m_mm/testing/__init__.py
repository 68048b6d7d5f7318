# Copyright (c) s4m-mm authors. All rights reserved.
from ._utils import (cfg_option_args, get_config_path, get_repo_root,
                     prefixed, tiny_sam2_cfg, tiny_sam2_options,
                     tiny_sam_cfg, tiny_sam_options, tiny_teacher_cfg)
from .synthetic_coco import (make_synthetic_coco, write_own_data,
                             write_synthetic_coco)

__all__ = [
    'cfg_option_args', 'get_config_path', 'get_repo_root',
    'make_synthetic_coco', 'prefixed', 'tiny_sam2_cfg', 'tiny_sam2_options',
    'tiny_sam_cfg', 'tiny_sam_options', 'tiny_teacher_cfg', 'write_own_data',
    'write_synthetic_coco'
]
