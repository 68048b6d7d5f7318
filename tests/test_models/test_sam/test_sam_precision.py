# Copyright (c) s4m-mm authors. All rights reserved.
"""``autocast_dtype='auto'``: bfloat16 only where the device computes it
natively (emulated bfloat16 on an AVX2 CPU measured 13-15x slower than
float32 for LiteMedSAM)."""
import pytest
import torch
from torch import nn

from s4m_mm.models.sam import SAMAdapter, precision
from s4m_mm.models.sam.precision import autocast_to, resolve_autocast_dtype
from s4m_mm.testing import tiny_sam_options

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
    adapter = SAMAdapter('vit_b', checkpoint=None,
                         **tiny_sam_options(autocast_dtype='auto'))
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
        SAMAdapter('vit_b', checkpoint=None,
                   **tiny_sam_options(autocast_dtype='bf16'))


@pytest.mark.parametrize('is_native', [True, False])
def test_store_identity_names_the_resolved_autocast(native, is_native,
                                                    tmp_path):
    """An entry encoded under bfloat16 is stale for the same SAM in float32
    (and the other way round), on disk as in memory."""
    from s4m_mm.models.sam import SAMEmbeddingStore, StoreKey
    kwargs = dict(checkpoint=None, **tiny_sam_options())
    torch.manual_seed(0)
    auto = SAMAdapter('vit_b', autocast_dtype='auto', **kwargs)
    torch.manual_seed(0)  # the same weights
    fp32 = SAMAdapter('vit_b', **kwargs)
    native(is_native)
    assert auto.store_identity()['autocast'] == (
        'bfloat16' if is_native else None)
    assert auto.store_identity(CPU) == auto.store_identity()
    assert fp32.store_identity()['autocast'] is None
    store = SAMEmbeddingStore(memory_bytes=2**20, disk_dir=str(tmp_path))
    stored = (torch.ones(2, 2), )
    store.put(StoreKey('a.png', auto.store_identity(), (4, 4)), stored)
    fresh = SAMEmbeddingStore(memory_bytes=0, disk_dir=str(tmp_path))
    got = fresh.get(StoreKey('a.png', fp32.store_identity(), (4, 4)))
    if is_native:
        assert got is None and fresh.stats['stale'] == 1
    else:  # 'auto' is float32 here: the same identity, a hit
        assert got is not None and fresh.stats['stale'] == 0
