# Copyright (c) s4m-mm authors. All rights reserved.
"""SAMDistillMask2FormerHead: L_SD through its loss on a non-square batch
against a reference computed one point and one cell at a time, its query
points on each image's GT, its arguments and the paper's defaults."""
import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from s4m_mm.models.utils.structural_distill import (sam_similarity_targets,
                                                    sample_query_points)
from s4m_mm.testing import get_config_path
from s4m_mm.testing.sam_doubles import GridSAM, bilinear

TEACHER = get_config_path('s4m/demo/s4m-teacher_effl0_nuclei.py')


def sam_cells(geometry, sam_size, input_hw, grid=16):
    """The caller-pixel centres ``(x, y)`` and ``(row, col)`` of SAM's grid
    cells that lie in the input, by hand: SAM 1 scales the longest side to
    ``sam_size`` (padding the rest), SAM 2 resizes to the square."""
    H, W = input_hw
    if geometry == 'sam1':
        sx = sy = sam_size / max(H, W)
    else:
        sx, sy = sam_size / W, sam_size / H
    cell = sam_size / grid
    cells = []
    for r in range(grid):
        for c in range(grid):
            x, y = (c + 0.5) * cell / sx, (r + 0.5) * cell / sy
            if x < W and y < H:
                cells.append(((x, y), (r, c)))
    return cells, (sx, sy)


def head_loss_reference(mask_features, points, sam, geometry, sam_size,
                        input_hw, loss_weight):
    """L_SD one point and one cell at a time from the model's
    ``mask_features`` and the SAM double's maps."""
    cells, (sx, sy) = sam_cells(geometry, sam_size, input_hw)
    B, P = points.shape[:2]
    total, count = 0.0, 0
    for b in range(B):
        f_t = mask_features[b]
        f_cells = [bilinear(f_t, x, y, input_hw) for (x, y), _ in cells]
        for p in range(P):
            x, y = points[b, p].tolist()
            f_sam = sam.point_features(
                sam.maps, points[b, p:p + 1], torch.tensor([b]))[0]
            f_sam = f_sam.transpose(0, 1).reshape(-1, 16, 16)
            at_point = bilinear(f_sam, x * sx, y * sy, (sam_size, sam_size))
            ft_point = bilinear(f_t, x, y, input_hw)
            for f_cell, (_, (r, c)) in zip(f_cells, cells):
                ct = F.cosine_similarity(ft_point, f_cell, dim=0)
                cs = F.cosine_similarity(at_point, f_sam[:, r, c], dim=0)
                d = float((ct - cs).abs())
                total += 0.5 * d**2 if d < 1 else d - 0.5
                count += 1
    return loss_weight * total / count


def tiny_sd_head(loss_weight=1.0, **override):
    """The demo teacher's SD head with 4 queries, one layer per
    transformer and 6 query points, then ``override``."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    cfg = Config.fromfile(TEACHER).model
    head = cfg.panoptic_head
    head.num_queries = 4
    head.pixel_decoder.encoder.num_layers = 1
    head.transformer_decoder.num_layers = 1
    head.num_sd_points = 6
    head.loss_sd.loss_weight = loss_weight
    head.update(train_cfg=dict(cfg.train_cfg, num_points=64),
                test_cfg=cfg.test_cfg, **override)
    return MODELS.build(head)


def wide_batch(input_hw, img_widths, without_gt=()):
    """Samples of a ``input_hw`` batch whose images are ``img_widths``
    wide (the rest is padding), each with two GT rectangles (none for the
    indices in ``without_gt``)."""
    from mmengine.structures import InstanceData

    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    H, W = input_hw
    samples = []
    for index, width in enumerate(img_widths):
        masks = np.zeros((2, H, W), dtype=np.uint8)
        masks[0, 2:12, 3:20] = 1
        masks[1, 16:30, 24:40] = 1
        if index in without_gt:
            masks = masks[:0]
        sample = DetDataSample(metainfo=dict(
            img_shape=(H, width), ori_shape=(H, width),
            batch_input_shape=(H, W), pad_shape=(H, W)))
        sample.gt_instances = InstanceData(
            masks=BitmapMasks(masks, H, W),
            labels=torch.zeros(len(masks), dtype=torch.long),
            bboxes=torch.tensor([[3., 2., 20., 12.],
                                 [24., 16., 40., 30.]])[:len(masks)])
        samples.append(sample)
    return samples


# a 32 x 64 (H x W) batch: in a 128 px SAM 1 (scale 2, the bottom half of
# SAM's input is padding) and in a 64 px SAM 2 (scales 1 across, 2 down)
@pytest.mark.parametrize('geometry,sam_size', [('sam1', 128), ('sam2', 64)])
def test_head_loss_sd_equals_the_loop_reference_on_a_wide_batch(
        geometry, sam_size):
    torch.manual_seed(0)
    input_hw = (32, 64)
    head = tiny_sd_head(loss_weight=2.0)
    head.train()
    samples = wide_batch(input_hw, img_widths=(64, 48))
    # backbone features at strides 4 to 32 (EfficientNet-Lite0 channels)
    feats = tuple(
        torch.randn(2, ch, 32 // s, 64 // s)
        for ch, s in zip((24, 40, 112, 320), (4, 8, 16, 32)))
    points = head.sample_sd_points(samples, torch.device('cpu'),
                                   torch.Generator().manual_seed(1))
    assert points.shape == (2, 6, 2)
    assert bool((points[1, :, 0] < 48).all())  # never in the padding
    sam = GridSAM(torch.randn(2, 8, 16, 16), sam_size, geometry)
    c_sam, grid_xy, valid = sam_similarity_targets(
        sam, torch.zeros(2, 3, *input_hw), points, chunk=4)
    cells, _ = sam_cells(geometry, sam_size, input_hw)
    assert int(valid.sum()) == len(cells)
    assert grid_xy[valid].tolist() == [list(xy) for xy, _ in cells]

    captured = []
    head.pixel_decoder.register_forward_hook(
        lambda module, args, out: captured.append(out[0].detach()))
    losses = head.loss(feats, samples, sd_targets=dict(
        points=points, c_sam=c_sam, grid_xy=grid_xy, valid=valid))
    (mask_features, ) = captured
    # the head's own hook on the pixel decoder is gone after the loss
    assert len(head.pixel_decoder._forward_hooks) == 1
    assert mask_features.shape[-2:] == (8, 16)
    expected = head_loss_reference(mask_features, points, sam, geometry,
                                   sam_size, input_hw, loss_weight=2.0)
    assert float(losses['loss_sd']) == pytest.approx(expected, rel=1e-4)
    # the loss is added once, not per decoder layer
    assert [k for k in losses if 'loss_sd' in k] == ['loss_sd']
    # without targets the head is a plain Mask2Former head
    assert 'loss_sd' not in head.loss(feats, samples)


def test_head_samples_half_of_the_points_on_each_images_gt():
    head = tiny_sd_head(loss_weight=1.0)
    samples = wide_batch((32, 64), img_widths=(64, 48, 40), without_gt=(2, ))
    points = head.sample_sd_points(samples, torch.device('cpu'),
                                   torch.Generator().manual_seed(2))
    assert points.shape == (3, 6, 2)
    for b, width in enumerate((64, 48, 40)):
        x, y = points[b, :, 0], points[b, :, 1]
        assert bool(((x < width) & (y < 32)).all())
        if b < 2:  # 3 of 6 on the union of the two rectangles
            union = torch.from_numpy(
                samples[b].gt_instances.masks.masks).bool().any(0)
            assert bool(union[y[:3].long(), x[:3].long()].all())
    # the image without GT draws from an empty foreground, not from the
    # previous image's: the same generator replayed image by image
    g = torch.Generator().manual_seed(2)
    expected = []
    for b, sample in enumerate(samples):
        fg = torch.from_numpy(sample.gt_instances.masks.masks).bool().any(0) \
            if b < 2 else torch.zeros(32, 64, dtype=torch.bool)
        expected.append(
            sample_query_points(fg, sample.img_shape, 6, generator=g))
    assert torch.equal(points, torch.stack(expected))


def test_head_arguments_and_the_papers_defaults():
    from s4m_mm.models.heads import SAMDistillMask2FormerHead
    head = tiny_sd_head()
    defaults = {
        k: v.default
        for k, v in inspect.signature(
            SAMDistillMask2FormerHead.__init__).parameters.items()
        if k in ('loss_sd', 'num_sd_points', 'sd_fg_ratio')
    }
    assert defaults == dict(
        loss_sd=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0),
        num_sd_points=128, sd_fg_ratio=0.5)
    assert (head.loss_sd.beta, head.loss_sd.loss_weight) == (1.0, 1.0)
    for key, value in (('num_sd_points', 0), ('sd_fg_ratio', -0.1),
                       ('sd_fg_ratio', 1.1)):
        with pytest.raises(ValueError, match=f'{key} must be'):
            tiny_sd_head(**{key: value})
    for key, value in (('num_sd_points', 1), ('sd_fg_ratio', 0.0),
                       ('sd_fg_ratio', 1.0)):
        assert getattr(tiny_sd_head(**{key: value}), key) == value
