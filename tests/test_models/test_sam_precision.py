# Copyright (c) s4m-mm authors. All rights reserved.
"""``autocast_dtype='auto'``: bfloat16 only where the device computes it
natively (emulated bfloat16 on an AVX2 CPU measured 13-15x slower than
float32 for LiteMedSAM)."""
import pytest
import torch
from torch import nn

from s4m_mm.models.sam import SAMAdapter, precision
from s4m_mm.models.sam.precision import autocast_to, resolve_autocast_dtype

CPU = torch.device('cpu')


@pytest.fixture
def native(monkeypatch):
    """Set what :func:`native_bfloat16` answers."""

    def set_native(value):
        monkeypatch.setattr(precision, 'native_bfloat16',
                            lambda device: value)

    return set_native


@pytest.mark.parametrize('is_native, expected', [(True, 'bfloat16'),
                                                 (False, None)])
def test_auto_is_bfloat16_only_where_native(native, is_native, expected):
    native(is_native)
    assert resolve_autocast_dtype(CPU, 'auto') == expected


@pytest.mark.parametrize('dtype', [None, 'float16', 'bfloat16'])
def test_explicit_dtypes_are_kept_whatever_the_device(native, dtype):
    native(False)
    assert resolve_autocast_dtype(CPU, dtype) == dtype


def test_no_native_bfloat16_on_other_devices():
    assert precision.native_bfloat16(torch.device('meta')) is False


@pytest.mark.parametrize('is_native, on', [(True, True), (False, False)])
def test_auto_context_turns_cpu_autocast_on_only_where_native(
        native, is_native, on):
    native(is_native)
    with autocast_to(CPU, 'auto'):
        assert torch.is_autocast_enabled('cpu') is on
        if on:
            assert torch.get_autocast_dtype('cpu') == torch.bfloat16
        assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == (
            torch.bfloat16 if on else torch.float32)


@pytest.mark.parametrize('is_native, inner', [(True, torch.bfloat16),
                                              (False, torch.float32)])
def test_adapter_encoder_runs_in_the_resolved_type(native, is_native, inner):
    native(is_native)
    torch.manual_seed(0)
    adapter = SAMAdapter('vit_b', checkpoint=None, random_init=True,
                         img_size=64, encoder_depth=1,
                         autocast_dtype='auto')
    assert adapter.autocast_dtype_on('cpu') == (
        'bfloat16' if is_native else None)
    seen = []
    linear = next(m for m in adapter.sam.image_encoder.modules()
                  if isinstance(m, nn.Linear))
    handle = linear.register_forward_hook(
        lambda module, args, out: seen.append(out.dtype))
    try:
        emb = adapter.embed_images(torch.rand(1, 3, 32, 32) * 255)
    finally:
        handle.remove()
    assert seen and set(seen) == {inner}
    assert emb.image.dtype == torch.float32


def test_unknown_autocast_dtype_names_the_choices():
    with pytest.raises(ValueError, match="'bfloat16' or 'auto', got 'bf16'"):
        SAMAdapter('vit_b', checkpoint=None, random_init=True, img_size=64,
                   encoder_depth=1, autocast_dtype='bf16')
