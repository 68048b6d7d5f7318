# Copyright (c) s4m-mm authors. All rights reserved.
"""Autocast contexts of the frozen SAM."""
import contextlib
from typing import Optional

import torch

#: the values ``autocast_dtype`` of a SAM adapter accepts
AUTOCAST_DTYPES = (None, 'float16', 'bfloat16', 'auto')
#: the values ``decoder_dtype`` of a SAM adapter accepts
DECODER_DTYPES = (None, 'bfloat16', 'auto')


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 matmuls and convolutions
    natively: CUDA where ``torch.cuda.is_bf16_supported()``, the CPU where
    oneDNN has bfloat16 kernels (AVX-512 or AMX;
    ``torch.ops.mkldnn._is_mkldnn_bf16_supported()``). Elsewhere autocast
    to bfloat16 is emulated: on a 2-core AVX2 CPU LiteMedSAM's encoder and
    decoder measured 13x and 15x slower than in float32."""
    if device.type == 'cuda':
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == 'cpu':
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def resolve_autocast_dtype(device: torch.device,
                           dtype: Optional[str]) -> Optional[str]:
    """The autocast type that ``dtype`` means on ``device``: ``'auto'`` is
    ``'bfloat16'`` where the device computes it natively
    (:func:`native_bfloat16`), else ``None`` (float32); any other value is
    itself."""
    if dtype == 'auto':
        return 'bfloat16' if native_bfloat16(device) else None
    return dtype


def autocast_to(device: torch.device, dtype: Optional[str]):
    """Autocast to ``dtype`` on ``device`` (``'auto'``: see
    :func:`resolve_autocast_dtype`); a no-op for ``None`` (then any
    autocast of the caller, e.g. AMP training on GPU, applies)."""
    dtype = resolve_autocast_dtype(device, dtype)
    if dtype is None or not torch.amp.is_autocast_available(device.type):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=getattr(torch, dtype))


def autocast_disabled(device: torch.device):
    """A context that turns autocast off on ``device`` (no-op where the
    device type has no autocast)."""
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()
