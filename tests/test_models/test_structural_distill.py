# Copyright (c) s4m-mm authors. All rights reserved.
"""L_SD and its point sampler against the formula of the paper."""
import torch
import torch.nn.functional as F

from mmdet.models.losses import SmoothL1Loss
from s4m_mm.models.utils.structural_distill import (
    cosine_self_similarity, sam_grid_centres, sam_similarity_targets,
    sample_query_points, structural_distill_loss)


class GridSAM:
    """A SAM double whose prompt-conditioned feature map is a fixed
    function of the image and the prompt, on a 16 x 16 grid of a 64 px
    input: enough to check the geometry and the arithmetic of SD."""

    img_size = 64
    embed_size = (16, 16)

    def __init__(self, maps):
        self.maps = maps  # (B, C, 16, 16) per image

    def scale_factor(self, hw):
        return self.img_size / max(hw)

    def embed_images(self, images):
        return self.maps

    def point_features(self, embeddings, points, image_index, img_shape):
        base = embeddings[image_index]  # (N, C, h, w)
        # make the map depend on the prompt too
        bias = points.sum(dim=1)[:, None, None, None] * 1e-2
        return (base + bias).flatten(2).transpose(1, 2)  # (N, h*w, C)


def loop_reference(f_t, f_sam, points, valid_hw=(64, 64)):
    """The formula, one point and one cell at a time, with maps on the SAM
    grid (cell = 4 px) and nearest-cell lookup at points at cell centres."""
    B, P = points.shape[:2]
    total, count = 0.0, 0
    for b in range(B):
        for p in range(P):
            x, y = points[b, p].tolist()
            cx, cy = int(x // 4), int(y // 4)
            ft = f_t[b]
            fs = f_sam[b][p]
            for j in range(16 * 16):
                r, c = divmod(j, 16)
                ct = F.cosine_similarity(ft[:, cy, cx], ft[:, r, c], dim=0)
                cs = F.cosine_similarity(fs[:, cy, cx], fs[:, r, c], dim=0)
                d = (ct - cs).abs()
                total += float(0.5 * d**2 if d < 1 else d - 0.5)
                count += 1
    return total / count


def cell_centre_points(B, P, seed=0):
    g = torch.Generator().manual_seed(seed)
    cells = torch.randint(0, 16, (B, P, 2), generator=g)
    return cells.float() * 4 + 2.0  # centres of 4 px cells


def test_loss_equals_loop_by_loop_formula():
    torch.manual_seed(0)
    B, P, C = 2, 5, 8
    sam_maps = torch.randn(B, C, 16, 16)
    mask_features = torch.randn(B, C, 16, 16)  # stride 4 of a 64 px input
    points = cell_centre_points(B, P)
    sam = GridSAM(sam_maps)
    c_sam, grid_xy, valid = sam_similarity_targets(
        sam, torch.zeros(B, 3, 64, 64), points, chunk=3)
    loss = structural_distill_loss(mask_features, points, c_sam, grid_xy,
                                   valid, (64, 64), SmoothL1Loss(beta=1.0))
    f_sam = [[
        sam.point_features(sam_maps, points[b, p:p + 1],
                           torch.tensor([b]), (64, 64))[0].transpose(0, 1).reshape(
                               C, 16, 16) for p in range(P)
    ] for b in range(B)]
    expected = loop_reference(mask_features, f_sam, points)
    assert abs(float(loss) - expected) < 1e-5


def test_loss_is_zero_when_model_features_equal_sam_features():
    torch.manual_seed(1)
    maps = torch.randn(2, 6, 16, 16)

    class SameSAM(GridSAM):

        def point_features(self, embeddings, points, image_index,
                           img_shape):
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
    # a 32 x 64 input in a 64 px SAM: scale 1, only the top half is image
    maps = torch.randn(1, 4, 16, 16)
    points = torch.tensor([[[10.0, 10.0]]])
    _, grid_xy, valid = sam_similarity_targets(
        GridSAM(maps), torch.zeros(1, 3, 32, 64), points)
    assert torch.allclose(grid_xy[0], torch.tensor([2.0, 2.0]))
    assert torch.allclose(grid_xy[17], torch.tensor([6.0, 6.0]))
    assert int(valid.sum()) == 16 * 8
    centres = sam_grid_centres((16, 16), 64, scale=0.5)
    assert torch.allclose(centres[0], torch.tensor([4.0, 4.0]))


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
