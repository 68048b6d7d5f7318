# Copyright (c) s4m-mm authors. All rights reserved.
"""Autocast contexts of the frozen SAM."""
import contextlib
from typing import Optional

import torch

#: the values ``autocast_dtype`` of a SAM adapter accepts
AUTOCAST_DTYPES = (None, 'float16', 'bfloat16')


def autocast_to(device: torch.device, dtype: Optional[str]):
    """Autocast to ``dtype`` on ``device``; a no-op for ``None`` (then any
    autocast of the caller, e.g. AMP training on GPU, applies)."""
    if dtype is None or not torch.amp.is_autocast_available(device.type):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=getattr(torch, dtype))


def autocast_disabled(device: torch.device):
    """A context that turns autocast off on ``device`` (no-op where the
    device type has no autocast)."""
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()
