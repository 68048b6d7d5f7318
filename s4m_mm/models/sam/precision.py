# Copyright (c) s4m-mm authors. All rights reserved.
"""Autocast contexts of the frozen SAM and the precision of an adapter
(:class:`SAMPrecisionMixin`)."""
import contextlib
import copy
from typing import Optional

import torch
from torch import nn

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


class SAMPrecisionMixin:
    """The precision of a SAM adapter's encoder and mask decoder.

    Reads the adapter's ``autocast_dtype``, ``decoder_dtype``,
    ``_mask_decoder`` and its ``_cast_decoder`` slot (``None`` or ``((device,
    dtype), decoder copy)``, outside the module tree).
    """

    def _autocast(self, device: torch.device):
        return autocast_to(device, self.autocast_dtype)

    def decoder_dtype_on(self, device) -> Optional[torch.dtype]:
        """The type the mask decoder's weights and activations are cast
        to on ``device`` (``decoder_dtype``), or ``None``: the decoder as
        built, under the adapter's autocast."""
        name = resolve_autocast_dtype(torch.device(device),
                                      self.decoder_dtype)
        return None if name is None else getattr(torch, name)

    def _decoder_precision(self, device: torch.device):
        """The context of a decoder call: autocast off for a cast copy,
        else the adapter's autocast."""
        if self.decoder_dtype_on(device) is not None:
            return autocast_disabled(device)
        return self._autocast(device)

    def _decoder_on(self, device: torch.device) -> nn.Module:
        """The mask decoder a call on ``device`` runs: the backend's own,
        or its copy in ``decoder_dtype``, made once (the weights never
        change)."""
        dtype = self.decoder_dtype_on(device)
        if dtype is None:
            return self._mask_decoder
        key = (torch.device(device), dtype)
        if self._cast_decoder is None or self._cast_decoder[0] != key:
            copied = copy.deepcopy(self._mask_decoder).to(device, dtype)
            object.__setattr__(self, '_cast_decoder', (key, copied))
        return self._cast_decoder[1]

    @staticmethod
    def decoder_input_dtype(decoder: nn.Module) -> Optional[torch.dtype]:
        """The type to cast a decoder's inputs to: its weights' for a
        reduced-precision copy, ``None`` (inputs as they are) for the
        float32 decoder under autocast."""
        dtype = next(decoder.parameters()).dtype
        return None if dtype == torch.float32 else dtype

    def autocast_dtype_on(self, device) -> Optional[str]:
        """The autocast type SAM runs under on ``device`` (``'auto'``
        resolved)."""
        return resolve_autocast_dtype(torch.device(device),
                                      self.autocast_dtype)

