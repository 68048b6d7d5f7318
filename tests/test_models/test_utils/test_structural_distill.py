# Copyright (c) s4m-mm authors. All rights reserved.
"""L_SD and its point sampler against the formula of the paper."""
import inspect
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmdet.models.losses import SmoothL1Loss
from s4m_mm.models.sam import BaseSAMAdapter, SAM2Adapter, SAMAdapter
from s4m_mm.models.utils.structural_distill import (
    cosine_self_similarity, sam_similarity_targets, sample_query_points,
    structural_distill_loss)
from s4m_mm.testing import get_config_path

TEACHER = get_config_path('s4m/demo/s4m-teacher_effl0_nuclei.py')


class GridSAM:
    """A SAM double whose prompt-conditioned feature map is a fixed
    function of the image and the prompt, on a 16 x 16 grid of an
    ``img_size`` px input, with the real geometry of SAM 1 (longest side to
    ``S``, padded) or SAM 2 (resized to the square): enough to check the
    geometry and the arithmetic of SD."""

    embed_size = (16, 16)
    to_input_coords = BaseSAMAdapter.to_input_coords
    cell_centres = BaseSAMAdapter.cell_centres
    valid_cells = BaseSAMAdapter.valid_cells

    def __init__(self, maps, img_size=64, geometry='sam1'):
        self.maps = maps  # (B, C, 16, 16) per image
        self.img_size = img_size
        self.geometry = {'sam1': SAMAdapter, 'sam2': SAM2Adapter}[geometry]

    def input_scale(self, img_shape):
        return self.geometry.input_scale(self, img_shape)

    def embed_images(self, images):
        return self.maps

    def point_features(self, embeddings, points, image_index):
        base = embeddings[image_index]  # (N, C, h, w)
        # make the map depend on the prompt too
        bias = points.sum(dim=1)[:, None, None, None] * 1e-2
        return (base + bias).flatten(2).transpose(1, 2)  # (N, h*w, C)


def loop_reference(f_t, f_sam, points, cell_wh):
    """The formula, one point and one cell at a time, written without the
    code under test: ``f_t (B, C, rows, cols)`` are the model's features of
    the cells of SAM's 16 x 16 grid that lie in the image (the top-left
    ``rows x cols`` ones), each cell ``cell_wh`` caller pixels; the points
    are at cell centres, so a point reads its own cell."""
    B, P = points.shape[:2]
    cw, ch = cell_wh
    rows, cols = f_t.shape[-2:]
    total, count = 0.0, 0
    for b in range(B):
        for p in range(P):
            x, y = points[b, p].tolist()
            cx, cy = int(x // cw), int(y // ch)
            ft = f_t[b]
            fs = f_sam[b][p]
            for r in range(rows):
                for c in range(cols):
                    ct = F.cosine_similarity(ft[:, cy, cx], ft[:, r, c],
                                             dim=0)
                    cs = F.cosine_similarity(fs[:, cy, cx], fs[:, r, c],
                                             dim=0)
                    d = (ct - cs).abs()
                    total += float(0.5 * d**2 if d < 1 else d - 0.5)
                    count += 1
    return total / count


def cell_centre_points(B, P, cell_wh=(4, 4), grid_hw=(16, 16), seed=0):
    g = torch.Generator().manual_seed(seed)
    cells = torch.stack([
        torch.randint(0, grid_hw[1], (B, P), generator=g),
        torch.randint(0, grid_hw[0], (B, P), generator=g)
    ], dim=-1).float()
    return cells * torch.tensor(cell_wh, dtype=torch.float32) + \
        torch.tensor(cell_wh, dtype=torch.float32) / 2


# input (H, W), SAM input side, geometry -> caller pixels of a SAM cell, and
# the image's cells of the 16 x 16 grid (rows, cols): scale 1 and square;
# SAM 1 at scale 2 on a wide input (only the top 8 rows are image); SAM 2
# at scales (1, 2) on the same input (every cell is image, 4 x 2 px)
GEOMETRIES = [
    ((64, 64), 64, 'sam1', (4, 4), (16, 16)),
    ((32, 64), 128, 'sam1', (4, 4), (8, 16)),
    ((32, 64), 64, 'sam2', (4, 2), (16, 16)),
]


@pytest.mark.parametrize('input_hw,sam_size,geometry,cell_wh,grid_hw',
                         GEOMETRIES)
def test_loss_equals_loop_by_loop_formula(input_hw, sam_size, geometry,
                                          cell_wh, grid_hw):
    torch.manual_seed(0)
    B, P, C = 2, 5, 8
    H, W = input_hw
    sam_maps = torch.randn(B, C, 16, 16)
    # model features over the input whose cells are the image's SAM cells
    # (stride 4, or 4 x 2 px for SAM 2 on the wide input), so that reading
    # them at SAM's cell centres gives f_t itself
    f_t = torch.randn(B, C, *grid_hw)
    mask_features = f_t
    points = cell_centre_points(B, P, cell_wh, grid_hw)
    sam = GridSAM(sam_maps, sam_size, geometry)
    c_sam, grid_xy, valid = sam_similarity_targets(
        sam, torch.zeros(B, 3, H, W), points, chunk=3)
    assert int(valid.sum()) == grid_hw[0] * grid_hw[1]
    loss = structural_distill_loss(mask_features, points, c_sam, grid_xy,
                                   valid, (H, W), SmoothL1Loss(beta=1.0))
    f_sam = [[
        sam.point_features(sam_maps, points[b, p:p + 1],
                           torch.tensor([b]))[0].transpose(0, 1).reshape(
                               C, 16, 16) for p in range(P)
    ] for b in range(B)]
    expected = loop_reference(f_t, f_sam, points, cell_wh)
    assert abs(float(loss) - expected) < 1e-5


def test_loss_is_zero_when_model_features_equal_sam_features():
    torch.manual_seed(1)
    maps = torch.randn(2, 6, 16, 16)

    class SameSAM(GridSAM):

        def point_features(self, embeddings, points, image_index):
            return embeddings[image_index].flatten(2).transpose(1, 2)

    g = torch.Generator().manual_seed(3)
    points = torch.rand(2, 7, 2, generator=g) * 64  # anywhere, off-centre
    c_sam, grid_xy, valid = sam_similarity_targets(
        SameSAM(maps), torch.zeros(2, 3, 64, 64), points)
    loss = structural_distill_loss(maps, points, c_sam, grid_xy, valid,
                                   (64, 64), SmoothL1Loss(beta=1.0))
    assert float(loss) < 1e-10


def test_gradient_reaches_model_features_only():
    maps = torch.randn(1, 4, 16, 16)
    feats = torch.randn(1, 4, 16, 16, requires_grad=True)
    points = cell_centre_points(1, 3)
    c_sam, grid_xy, valid = sam_similarity_targets(
        GridSAM(maps), torch.zeros(1, 3, 64, 64), points)
    assert not c_sam.requires_grad
    loss = structural_distill_loss(feats, points, c_sam, grid_xy, valid,
                                   (64, 64), SmoothL1Loss())
    loss.backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0


def test_grid_centres_and_validity_for_a_wide_input():
    # a 32 x 64 input in a 64 px SAM 1: scale 1, only the top half is image
    maps = torch.randn(1, 4, 16, 16)
    points = torch.tensor([[[10.0, 10.0]]])
    _, grid_xy, valid = sam_similarity_targets(
        GridSAM(maps), torch.zeros(1, 3, 32, 64), points)
    assert torch.allclose(grid_xy[0], torch.tensor([2.0, 2.0]))
    assert torch.allclose(grid_xy[17], torch.tensor([6.0, 6.0]))
    assert int(valid.sum()) == 16 * 8
    assert bool(valid[:16 * 8].all())
    # a 64 x 128 input in a 64 px SAM 1: scale 0.5, cells of 8 px
    centres = GridSAM(maps, 64).cell_centres((64, 128))
    assert torch.allclose(centres[0], torch.tensor([4.0, 4.0]))
    # in SAM 2 (square resize): 16 x 16 cells of 4 x 2 px, all image
    sam2 = GridSAM(maps, 64, 'sam2')
    centres = sam2.cell_centres((32, 64))
    assert torch.allclose(centres[0], torch.tensor([2.0, 1.0]))
    assert torch.allclose(centres[16 + 3], torch.tensor([14.0, 3.0]))
    assert bool(sam2.valid_cells((32, 64)).all())


def test_cosine_self_similarity_shape_and_diagonal():
    f = torch.randn(2, 10, 5)
    sim = cosine_self_similarity(f[:, :3], f)
    assert sim.shape == (2, 3, 10)
    assert torch.allclose(sim[:, torch.arange(3), torch.arange(3)],
                          torch.ones(2, 3), atol=1e-6)


def test_point_sampler_half_on_foreground_inside_image():
    fg = torch.zeros(64, 80, dtype=torch.bool)
    fg[10:30, 20:50] = True  # 600 px
    g = torch.Generator().manual_seed(0)
    pts = sample_query_points(fg, (60, 70), 128, 0.5, g)
    assert pts.shape == (128, 2)
    x, y = pts[:, 0], pts[:, 1]
    assert bool(((x > 0) & (x < 70) & (y > 0) & (y < 60)).all())
    on_fg = fg[y.long(), x.long()]
    assert bool(on_fg[:64].all())
    # the foreground half has no repeated pixel
    assert len({(int(a), int(b)) for a, b in pts[:64].tolist()}) == 64


def test_point_sampler_uses_the_valid_width_and_half_by_default():
    # a wide valid area whose foreground lies right of column 40 only
    fg = torch.zeros(8, 80, dtype=torch.bool)
    fg[2:6, 40:60] = True
    pts = sample_query_points(fg, (8, 64), 10,
                              generator=torch.Generator().manual_seed(0))
    x, y = pts[:, 0], pts[:, 1]
    assert bool(fg[y[:5].long(), x[:5].long()].all())  # 5 of 10 on fg
    assert bool(((x < 64) & (y < 8)).all())


def test_point_sampler_fills_shortfall_with_random_points():
    fg = torch.zeros(32, 32, dtype=torch.bool)
    fg[5, 5:10] = True  # 5 fg pixels < 64
    pts = sample_query_points(fg, (32, 32), 128, 0.5,
                              torch.Generator().manual_seed(0))
    assert pts.shape == (128, 2)
    assert bool(fg[pts[:5, 1].long(), pts[:5, 0].long()].all())
    empty = sample_query_points(torch.zeros(32, 32, dtype=torch.bool),
                                (32, 32), 16)
    assert empty.shape == (16, 2)


def test_point_sampler_is_reproducible_with_a_seed():
    fg = torch.rand(40, 40) > 0.7
    a = sample_query_points(fg, (40, 40), 32, 0.5,
                            torch.Generator().manual_seed(5))
    b = sample_query_points(fg, (40, 40), 32, 0.5,
                            torch.Generator().manual_seed(5))
    c = sample_query_points(fg, (40, 40), 32, 0.5,
                            torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


# ----------------------------------------------------------------------
# L_SD through SAMDistillMask2FormerHead.loss on a non-square batch
# ----------------------------------------------------------------------
def bilinear(feat, x, y, frame_hw):
    """``feat (C, h, w)`` covering a frame of ``frame_hw`` pixels, read at
    pixel ``(x, y)``: bilinear between cell centres, clamped to the border
    cells (by hand, for the reference)."""
    _, h, w = feat.shape
    H, W = frame_hw
    u = min(max(x * w / W - 0.5, 0.0), w - 1.0)
    v = min(max(y * h / H - 0.5, 0.0), h - 1.0)
    u0, v0 = int(math.floor(u)), int(math.floor(v))
    u1, v1 = min(u0 + 1, w - 1), min(v0 + 1, h - 1)
    a, b = u - u0, v - v0
    return ((1 - a) * (1 - b) * feat[:, v0, u0] + a * (1 - b) * feat[:, v0, u1]
            + (1 - a) * b * feat[:, v1, u0] + a * b * feat[:, v1, u1])


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


class WideGridSAM(GridSAM):
    """GridSAM with an 8 x 16 (h x w) embedding grid."""

    embed_size = (8, 16)


def test_sam_targets_on_a_non_square_grid():
    torch.manual_seed(3)
    maps = torch.randn(1, 4, 8, 16)
    sam = WideGridSAM(maps, 64, 'sam1')
    points = torch.tensor([[[5.0, 3.0], [40.0, 20.0], [63.0, 30.0]]])
    c_sam, grid_xy, valid = sam_similarity_targets(
        sam, torch.zeros(1, 3, 32, 64), points, chunk=2)
    assert c_sam.shape == (1, 3, 8 * 16)
    # by hand: scale 1, cells 4 px wide and 8 px high, rows 0-3 in the image
    assert grid_xy[:2].tolist() == [[2.0, 4.0], [6.0, 4.0]]
    assert valid.tolist() == [True] * 64 + [False] * 64
    for p in range(3):
        x, y = points[0, p].tolist()
        f = sam.point_features(maps, points[0, p:p + 1], torch.tensor([0]))
        f = f[0].transpose(0, 1).reshape(4, 8, 16)
        at = bilinear(f, x, y, (64, 64))
        for j in (0, 17, 40, 127):
            expected = F.cosine_similarity(at, f[:, j // 16, j % 16], dim=0)
            assert float(c_sam[0, p, j]) == pytest.approx(float(expected),
                                                          abs=1e-5)


def test_sam_targets_go_to_the_decoder_in_chunks_of_64():
    calls = []

    class CountingSAM(GridSAM):

        def point_features(self, embeddings, points, image_index):
            calls.append(len(points))
            return super().point_features(embeddings, points, image_index)

    points = torch.rand(2, 65, 2, generator=torch.Generator().manual_seed(0))
    sam_similarity_targets(CountingSAM(torch.randn(2, 4, 16, 16)),
                           torch.zeros(2, 3, 64, 64), points * 64)
    assert calls == [64, 64, 2]
