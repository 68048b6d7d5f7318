# Copyright (c) s4m-mm authors. All rights reserved.
"""Which adapter builds which SAM, for tools that take a ``--sam-type``."""
from typing import Dict, Optional, Type

from .base import BaseSAMAdapter
from .lite_medsam import LiteMedSAMAdapter
from .sam1 import SAMAdapter
from .sam2 import SAM2Adapter

#: every ``sam_type`` of every backend -> its adapter class
SAM_ADAPTERS: Dict[str, Type[BaseSAMAdapter]] = {
    sam_type: cls
    for cls in (SAM2Adapter, SAMAdapter, LiteMedSAMAdapter)
    for sam_type in cls.SAM_TYPES
}


def sam_adapter_config(sam_type: str,
                       checkpoint: Optional[str] = None,
                       **kwargs) -> dict:
    """The model config of the adapter of ``sam_type``: ``dict(type=...,
    sam_type=..., checkpoint=..., **kwargs)``; LiteMedSAM without a
    checkpoint gets its packaged weights.

    Raises:
        ValueError: ``sam_type`` is no backend's, listing them all.
    """
    if sam_type not in SAM_ADAPTERS:
        raise ValueError(f'sam_type={sam_type!r} is not supported; valid '
                         f'types are {list(SAM_ADAPTERS)}')
    cfg = dict(type=SAM_ADAPTERS[sam_type].__name__, sam_type=sam_type)
    if checkpoint is not None or SAM_ADAPTERS[sam_type] is not \
            LiteMedSAMAdapter or kwargs.get('random_init'):
        cfg['checkpoint'] = checkpoint
    cfg.update(kwargs)
    return cfg
