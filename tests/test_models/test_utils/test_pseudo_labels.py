# Copyright (c) s4m-mm authors. All rights reserved.
"""Stage-2 pseudo-labels: the paper's selection and SAM refinement."""
import copy
import math

import pytest
import torch
from mmengine.structures import InstanceData

from s4m_mm.models.refiners import SAMPseudoLabelRefiner
from s4m_mm.models.utils.pseudo_labels import (boxes_from_masks, mask_iou,
                                               sample_prompt_points,
                                               select_pseudo_instances,
                                               upsample_logits)
from s4m_mm.testing import tiny_sam_cfg


def test_selection_thresholds():
    # 4 queries, 2 classes + no-object
    cls = torch.tensor([
        [5.0, 0.0, 0.0],  # class 0, conf ~0.99 -> kept
        [0.0, 0.0, 5.0],  # no object -> dropped
        [1.0, 0.8, 0.0],  # class 0 but conf ~0.47 -> dropped
        [0.0, 6.0, 0.0],  # class 1, conf high, but tiny mask -> dropped
    ])
    masks = torch.full((4, 8, 8), -10.0)
    masks[0, :4, :4] = 10.0  # sigmoid sum 16 > 5
    masks[1, :4, :4] = 10.0
    masks[2, :4, :4] = 10.0
    masks[3, 0, :4] = 10.0  # sigmoid sum ~4 -> not > 5
    inst = select_pseudo_instances(cls, masks, score_thr=0.7,
                                   min_mask_sum=5.0)
    assert inst.labels.tolist() == [0]
    assert inst.scores[0] > 0.7
    assert int(inst.masks[0].sum()) == 16
    assert torch.equal(inst.mask_logits[0], masks[0])


def test_selection_confidence_is_strict():
    cls = torch.log(torch.tensor([[0.7, 0.2, 0.1]]))
    masks = torch.full((1, 4, 4), 10.0)
    assert len(select_pseudo_instances(cls, masks, 0.7, 0.0)) == 0
    assert len(select_pseudo_instances(cls, masks, 0.69, 0.0)) == 1


def sum_queries(pixel_logits):
    """One confident class-0 query per entry of ``pixel_logits``: a
    ``(10, 10)`` mask whose listed ``(count, logit)`` pixels have that
    logit and the rest ``-inf`` (sigmoid exactly 0)."""
    cls = torch.tensor([[8.0, 0.0]] * len(pixel_logits))
    masks = torch.full((len(pixel_logits), 100), -float('inf'))
    for q, groups in enumerate(pixel_logits):
        start = 0
        for count, logit in groups:
            masks[q, start:start + count] = logit
            start += count
    return cls, masks.view(-1, 10, 10)


def test_mask_sum_threshold_is_strict():
    # sigmoid(0) = 0.5 exactly: 10 such pixels sum to 5.0, 11 to 5.5
    cls, masks = sum_queries([[(10, 0.0)], [(11, 0.0)]])
    inst = select_pseudo_instances(cls, masks, 0.7, 5.0)
    assert inst.labels.tolist() == [0]
    assert torch.equal(inst.mask_logits[0], masks[1])
    # sigmoid 0.5 is not > 0.5: the binary mask is empty
    assert not inst.masks.any()
    # the paper's defaults: score 0.7, sigmoid sum 5
    assert len(select_pseudo_instances(cls, masks)) == 1
    assert len(select_pseudo_instances(cls, masks, 0.7, 4.9)) == 2


def test_mask_sum_is_of_sigmoids_not_of_binary_pixels():
    # 40 px at logit -1: binary area 0, sigmoid sum 40 / (1 + e) = 10.76
    # 6 px at logit 0.1: binary area 6, sigmoid sum 6 / (1 + e^-0.1) = 3.15
    soft, hard = 40 / (1 + math.e), 6 / (1 + math.exp(-0.1))
    assert soft > 5 > hard
    cls, masks = sum_queries([[(40, -1.0)], [(6, 0.1)]])
    inst = select_pseudo_instances(cls, masks, 0.7, 5.0)
    assert torch.equal(inst.mask_logits, masks[:1])
    assert int(inst.masks.sum()) == 0  # kept, with an empty binary mask
    inst = select_pseudo_instances(cls, masks, 0.7, 3.0)
    assert torch.equal(inst.mask_logits, masks)
    assert inst.masks.flatten(1).sum(1).tolist() == [0, 6]


def test_selection_keeps_label_score_and_binary_mask():
    # 3 classes + no object; softmax of (2, 0, 0, 0) picks class 0 with
    # e^2 / (e^2 + 3), of (0, 0, 3, 0) class 2 with e^3 / (e^3 + 3)
    cls = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 3.0, 0.0],
                        [0.0, 0.0, 0.0, 9.0]])
    masks = torch.full((3, 4, 4), 2.0)
    masks[:, 0] = -2.0  # sigmoid(2) * 12 + sigmoid(-2) * 4 = 11.0 > 5
    inst = select_pseudo_instances(cls, masks, 0.5, 5.0)
    assert inst.labels.tolist() == [0, 2]
    e2, e3 = math.exp(2), math.exp(3)
    assert inst.scores.tolist() == pytest.approx(
        [e2 / (e2 + 3), e3 / (e3 + 3)], abs=1e-6)
    assert inst.masks.shape == (2, 4, 4)
    assert inst.masks[:, 1:].all() and not inst.masks[:, 0].any()


def test_point_sampling_follows_softmax_of_logits_without_repeats():
    logits = torch.full((1, 4, 4), -20.0)
    logits[0, 1, 2] = 0.0
    logits[0, 3, 0] = 0.0
    logits[0, 0, 0] = 0.0
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(16)
    for _ in range(50):
        xy, labels = sample_prompt_points(logits, 3, 'logits', g)
        flat = (xy[0, :, 1] - 0.5) * 4 + (xy[0, :, 0] - 0.5)
        assert len(set(flat.long().tolist())) == 3  # no repeats
        counts[flat.long()] += 1
    # all mass on the 3 hot pixels: each is drawn every time
    assert counts[[6, 12, 0]].tolist() == [50, 50, 50]
    assert labels.eq(1).all()

    # frequencies follow the softmax: one pixel 3x likelier than the others
    logits = torch.zeros(1, 1, 4)
    logits[0, 0, 0] = torch.log(torch.tensor(3.0))
    g = torch.Generator().manual_seed(1)
    first = torch.zeros(4)
    for _ in range(2000):
        xy, _ = sample_prompt_points(logits, 1, 'logits', g)
        first[int(xy[0, 0, 0])] += 1
    assert abs(first[0] / 2000 - 0.5) < 0.04


def test_soft_in_mask_sampling_stays_in_mask_and_pads():
    logits = torch.full((2, 6, 6), -5.0)
    logits[0, 2:5, 2:5] = 3.0  # 9 px in mask
    logits[1, 0, 0] = 2.0  # 1 px in mask
    xy, labels = sample_prompt_points(logits, 3, 'soft_in_mask',
                                      torch.Generator().manual_seed(0))
    inside = logits[0][xy[0, :, 1].long(), xy[0, :, 0].long()] > 0
    assert inside.all() and labels[0].eq(1).all()
    assert labels[1].tolist() == [1.0, -1.0, -1.0]
    assert xy[1, 0].tolist() == [0.5, 0.5]
    with pytest.raises(ValueError, match='point sampling'):
        sample_prompt_points(logits, 3, 'uniform')


def test_soft_in_mask_is_strictly_above_one_half_and_rows_pad_alone():
    # row 0: one pixel at sigmoid 0.88 and one at exactly 0.5 (not in the
    # mask); row 1: two pixels in the mask; row 2: five
    logits = torch.full((3, 4, 4), -9.0)
    logits[0, 0, 0], logits[0, 3, 3] = 2.0, 0.0
    logits[1, 1, :2] = 3.0
    logits[2, 2, :] = 3.0
    logits[2, 3, 0] = 3.0
    xy, labels = sample_prompt_points(logits, 3, 'soft_in_mask',
                                      torch.Generator().manual_seed(0))
    assert labels.tolist() == [[1, -1, -1], [1, 1, -1], [1, 1, 1]]
    assert xy[0, 0].tolist() == [0.5, 0.5]
    assert sorted(map(tuple, xy[1, :2].tolist())) == [(0.5, 1.5),
                                                      (1.5, 1.5)]


def test_point_sampling_defaults_and_no_instances():
    logits = torch.zeros(2, 4, 6)
    g = torch.Generator().manual_seed(0)
    xy, labels = sample_prompt_points(logits, generator=g)
    assert xy.shape == (2, 3, 2) and labels.tolist() == [[1, 1, 1]] * 2
    # the logit map is 4 x 6 (h x w): x = col + 0.5 < 6, y = row + 0.5 < 4
    assert bool((xy[..., 0] < 6).all() and (xy[..., 1] < 4).all())
    xy, labels = sample_prompt_points(torch.zeros(0, 4, 6), 3)
    assert xy.shape == (0, 3, 2) and labels.shape == (0, 3)


def test_upsample_logits_is_bilinear_without_corner_alignment():
    # by hand, 1 x 2 -> 1 x 4: output centres at source positions -0.25
    # (clamped to 0), 0.25, 0.75 and 1.25 (clamped to 1)
    out = upsample_logits(torch.tensor([[[0.0, 4.0]]]), (1, 4))
    assert out.tolist() == [[[0.0, 1.0, 3.0, 4.0]]]
    # instances are upsampled each on its own, in order
    two = upsample_logits(torch.tensor([[[0.0, 4.0]], [[8.0, 0.0]]]), (1, 4))
    assert two.tolist() == [[[0.0, 1.0, 3.0, 4.0]], [[8.0, 6.0, 2.0, 0.0]]]
    empty = upsample_logits(torch.zeros(0, 2, 2), (8, 6))
    assert empty.shape == (0, 8, 6)


def test_boxes_of_edge_masks_empty_sets_and_iou_of_empty_masks():
    m = torch.zeros(3, 6, 5, dtype=torch.bool)
    m[0, 0, 0] = True  # the top-left pixel
    m[1, 5, 4] = True  # the bottom-right pixel
    m[2, :, 2] = True  # a full column
    assert boxes_from_masks(m).tolist() == [[0, 0, 1, 1], [4, 5, 5, 6],
                                            [2, 0, 3, 6]]
    none = boxes_from_masks(torch.zeros(0, 6, 5, dtype=torch.bool))
    assert none.shape == (0, 4) and none.dtype == torch.float32
    empty = torch.zeros(2, 6, 5, dtype=torch.bool)
    assert mask_iou(empty, empty).tolist() == [0.0, 0.0]


def test_boxes_and_iou():
    m = torch.zeros(2, 10, 10, dtype=torch.bool)
    m[0, 2:5, 3:8] = True
    assert boxes_from_masks(m).tolist() == [[3, 2, 8, 5], [0, 0, 0, 0]]
    n = m.clone()
    n[0, 2:5, 3:5] = False
    assert torch.allclose(mask_iou(m, n)[:1], torch.tensor([9 / 15]))


def tiny_refiner(**kw):
    return SAMPseudoLabelRefiner(sam=tiny_sam_cfg(), **kw)


def instances(n, hw=(32, 32), seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, hw[0] // 4, hw[1] // 4, generator=g) * 3
    masks = torch.nn.functional.interpolate(
        logits[:, None], size=hw, mode='bilinear')[:, 0] > 0
    return InstanceData(labels=torch.arange(n), scores=torch.rand(n),
                        mask_logits=logits, masks=masks)


def test_refiner_keeps_labels_and_picks_highest_iou():
    torch.manual_seed(0)
    refiner = tiny_refiner()
    images = torch.rand(2, 3, 32, 32) * 255
    insts = [instances(3), instances(2, seed=1)]
    g = torch.Generator().manual_seed(0)
    out, stats = refiner(images, insts, g)
    assert [len(o) for o in out] == [3, 2]
    for o, i in zip(out, insts):
        assert torch.equal(o.labels, i.labels)
        assert torch.equal(o.mask_logits, i.mask_logits)
        assert o.masks.shape == (len(i), 32, 32) and o.masks.dtype == \
            torch.bool
    assert stats['instances'] == 5 and stats['refined'] == 5
    # the chosen mask is SAM's best-IoU candidate for the same prompts
    prompts = refiner.prompts(insts, (32, 32),
                              torch.Generator().manual_seed(0))
    emb = refiner.predictor.adapter.embed_images(images)
    logits, iou = refiner.predictor.adapter.predict_masks(
        emb, prompts['image_index'], points=prompts['points'],
        point_labels=prompts['point_labels'], out_size=(32, 32))
    best = logits[torch.arange(5), iou.argmax(1)] > 0
    assert torch.equal(torch.cat([o.masks for o in out]), best)


def test_refiner_batched_equals_per_image():
    refiner = tiny_refiner(prompt='box+points')
    images = torch.rand(2, 3, 32, 32) * 255
    insts = [instances(3), instances(2, seed=1)]
    both, _ = refiner(images, insts, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    one = [refiner(images[i:i + 1], [insts[i]], g)[0][0] for i in range(2)]
    for a, b in zip(both, one):
        assert torch.equal(a.masks, b.masks)


def test_points_are_inside_the_image():
    refiner = tiny_refiner()
    insts = [instances(4, hw=(48, 32))]
    p = refiner.prompts(insts, (48, 32), torch.Generator().manual_seed(0))
    x, y = p['points'][..., 0], p['points'][..., 1]
    assert bool(((x > 0) & (x < 32) & (y > 0) & (y < 48)).all())


def test_gate_keeps_teacher_masks():
    refiner = tiny_refiner(gate=dict(min_pred_iou=2.0))  # never reached
    insts = [instances(3)]
    out, stats = refiner(torch.rand(1, 3, 32, 32) * 255, insts)
    assert stats['refined'] == 0
    assert torch.equal(out[0].masks, insts[0].masks)
    with pytest.raises(ValueError, match='unknown gate keys'):
        tiny_refiner(gate=dict(iou=0.5))
    with pytest.raises(ValueError, match='prompt must be one of'):
        tiny_refiner(prompt='mask')


def test_no_instances_means_no_sam_call():
    refiner = tiny_refiner()
    empty = InstanceData(labels=torch.zeros(0, dtype=torch.long),
                         mask_logits=torch.zeros(0, 8, 8),
                         masks=torch.zeros(0, 32, 32, dtype=torch.bool))
    out, stats = refiner(torch.rand(1, 3, 32, 32), [empty])
    assert len(out[0]) == 0 and stats['instances'] == 0


def test_refiner_under_bf16_autocast_matches_float32():
    torch.manual_seed(0)
    ref32 = tiny_refiner()
    ref16 = copy.deepcopy(ref32)  # shares the frozen SAM weights
    ref16.predictor.adapter.autocast_dtype = 'bfloat16'
    assert ref32.predictor.adapter.autocast_dtype is None
    images = torch.rand(1, 3, 32, 32) * 255
    insts = [instances(3)]
    a, _ = ref32(images, insts, torch.Generator().manual_seed(0))
    b, _ = ref16(images, insts, torch.Generator().manual_seed(0))
    agree = (a[0].masks == b[0].masks).float().mean()
    assert agree > 0.95
