# Copyright (c) s4m-mm authors. All rights reserved.
"""``decoder_dtype``: SAM's mask decoder on a bfloat16 copy of its weights,
outside autocast (the refiner's decoder cost on a CPU), against the
float32 decoder on real LiteMedSAM weights; SAM 2 takes it too."""
import numpy as np
import pytest
import torch

from s4m_mm.models.sam import LiteMedSAMAdapter, SAM2Adapter, precision
from s4m_mm.testing import tiny_sam2_options

CPU = torch.device('cpu')
#: bright disks on a dark, slightly noisy background: (cx, cy, r)
DISKS = ((60, 70, 22), (170, 60, 30), (90, 180, 26), (190, 190, 18))


def disk_image():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:256, :256]
    image = rng.normal(30, 5, (256, 256))
    for cx, cy, r in DISKS:
        image[(xx - cx)**2 + (yy - cy)**2 <= r * r] = 200
    image = torch.from_numpy(image.clip(0, 255)).float()
    return image.expand(1, 3, 256, 256).contiguous()


def boxes():
    return torch.tensor([[cx - r - 3, cy - r - 3, cx + r + 3, cy + r + 3]
                         for cx, cy, r in DISKS], dtype=torch.float32)


def refine(adapter, embeddings):
    with torch.no_grad():
        return adapter.predict_best_masks(embeddings, None,
                                          boxes=boxes())


@pytest.fixture(scope='module')
def float32_sam():
    return LiteMedSAMAdapter()


@pytest.fixture(scope='module')
def embeddings(float32_sam):
    with torch.no_grad():
        return float32_sam.embed_images(disk_image())


def mask_iou(a, b):
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float()
    return inter / union


def test_bfloat16_decoder_masks_match_float32(float32_sam, embeddings):
    ref_logits, ref_iou = refine(float32_sam, embeddings)
    ref = ref_logits > 0
    # the float32 decoder finds the disks: the check below compares masks
    # that mean something
    yy, xx = torch.meshgrid(torch.arange(256), torch.arange(256),
                            indexing='ij')
    truth = torch.stack([(xx - cx)**2 + (yy - cy)**2 <= r * r
                         for cx, cy, r in DISKS])
    assert mask_iou(ref, truth).min() > 0.75

    sam = LiteMedSAMAdapter(decoder_dtype='bfloat16')
    logits, iou = refine(sam, embeddings)
    assert logits.dtype == iou.dtype == torch.float32
    assert mask_iou(logits > 0, ref).min() > 0.97
    assert (iou - ref_iou).abs().max() < 0.02
    assert not torch.equal(logits, ref_logits)  # it did run in bfloat16


def test_the_cast_copy_is_made_once_and_never_saved(float32_sam,
                                                    embeddings):
    sam = LiteMedSAMAdapter(decoder_dtype='bfloat16')
    keys = set(sam.state_dict())
    assert keys == set(float32_sam.state_dict())
    refine(sam, embeddings)
    (device, dtype), decoder = sam._cast_decoder
    assert (device, dtype) == (CPU, torch.bfloat16)
    assert {p.dtype for p in decoder.parameters()} == {torch.bfloat16}
    refine(sam, embeddings)
    assert sam._cast_decoder[1] is decoder  # reused
    # the adapter's own weights stay float32 and out of its state_dict
    assert set(sam.state_dict()) == keys
    assert {p.dtype for p in sam.sam.mask_decoder.parameters()} == \
        {torch.float32}
    assert list(sam.parameters()) == []


@pytest.mark.parametrize('is_native, expected', [(True, torch.bfloat16),
                                                 (False, None)])
def test_auto_casts_only_where_bfloat16_is_native(monkeypatch, is_native,
                                                  expected):
    monkeypatch.setattr(precision, 'native_bfloat16', lambda device: is_native)
    sam = LiteMedSAMAdapter(decoder_dtype='auto')
    assert sam.decoder_dtype_on(CPU) == expected
    assert LiteMedSAMAdapter().decoder_dtype_on(CPU) is None


def test_auto_without_native_bfloat16_is_the_float32_decoder(
        monkeypatch, float32_sam, embeddings):
    monkeypatch.setattr(precision, 'native_bfloat16', lambda device: False)
    sam = LiteMedSAMAdapter(decoder_dtype='auto')
    logits, iou = refine(sam, embeddings)
    ref_logits, ref_iou = refine(float32_sam, embeddings)
    assert torch.equal(logits, ref_logits) and torch.equal(iou, ref_iou)
    assert sam._cast_decoder is None


@pytest.mark.parametrize('value', ['float16', 'fp32', torch.bfloat16])
def test_other_decoder_dtypes_are_refused(value):
    with pytest.raises(ValueError, match='decoder_dtype must be one of'):
        LiteMedSAMAdapter(decoder_dtype=value)


def test_sam2_takes_decoder_dtype(embeddings):
    """A config that swaps the demo's SAM for SAM 2 keeps its
    ``decoder_dtype``: SAM 2's decoder (high-resolution features included)
    runs on the bfloat16 copy, close to its float32 decoder."""
    torch.manual_seed(0)
    reference = SAM2Adapter('sam2_hiera_t', checkpoint=None,
                            **tiny_sam2_options())
    cast = SAM2Adapter('sam2_hiera_t', checkpoint=None,
                       **tiny_sam2_options(decoder_dtype='bfloat16'))
    cast.sam.load_state_dict(reference.sam.state_dict())
    with torch.no_grad():
        emb = reference.embed_images(disk_image())
        ref_logits, ref_iou = reference.predict_masks(emb, None,
                                                      boxes=boxes())
        logits, iou = cast.predict_masks(emb, None, boxes=boxes())
    assert cast._cast_decoder[0] == (CPU, torch.bfloat16)
    assert logits.dtype == torch.float32 and logits.shape == ref_logits.shape
    assert not torch.equal(logits, ref_logits)
    # bfloat16 keeps 8 bits of mantissa: within a few % of the logits' range
    scale = ref_logits.abs().max()
    assert (logits - ref_logits).abs().max() < 0.05 * scale
    assert (iou - ref_iou).abs().max() < 0.05
