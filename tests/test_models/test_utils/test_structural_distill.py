# Copyright (c) s4m-mm authors. All rights reserved.
"""L_SD and its point sampler against the formula of the paper."""
import pytest
import torch
import torch.nn.functional as F

from mmdet.models.losses import SmoothL1Loss
from s4m_mm.models.utils.structural_distill import (
    cosine_self_similarity, sam_similarity_targets, sample_query_points,
    structural_distill_loss)
from s4m_mm.testing.sam_doubles import GridSAM, bilinear


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
