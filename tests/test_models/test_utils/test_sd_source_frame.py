# Copyright (c) s4m-mm authors. All rights reserved.
"""SD targets with SAM in the source frame: the per-view computation for a
view equal to its source, the hand-mapped one for flips, scalings and
crops, and the SD teacher serving later views from its store."""
import math

import mmcv
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from s4m_mm.models.sam import BaseSAMAdapter, SAMAdapter, SAMEmbeddings
from s4m_mm.models.utils.sd_target_bank import bank_entry, read_bank
from s4m_mm.models.utils.structural_distill import (
    sam_similarity_targets, sam_similarity_targets_in_source)
from s4m_mm.testing import tiny_teacher_cfg


class FieldSAM:
    """A SAM double on a 16 x 16 grid of a 64 px input with SAM 1's
    geometry: the prompt-conditioned map of a point is the image's
    embedding plus a constant that depends on the point's position."""

    embed_size = (16, 16)
    img_size = 64
    to_input_coords = BaseSAMAdapter.to_input_coords
    cell_centres = BaseSAMAdapter.cell_centres
    valid_cells = BaseSAMAdapter.valid_cells

    def __init__(self, maps):
        self.maps = maps  # (B, C, 16, 16)

    def input_scale(self, img_shape):
        return SAMAdapter.input_scale(self, img_shape)

    def embed_images(self, images):
        return SAMEmbeddings(self.maps, images.shape[-2:])

    @staticmethod
    def bias(points):
        return (points[:, 0] * 0.013 + points[:, 1] * 0.007 - 0.3)

    def point_features(self, embeddings, points, image_index=None):
        if image_index is None:
            image_index = torch.zeros(len(points), dtype=torch.long)
        base = embeddings.image[image_index]  # (N, C, h, w)
        bias = self.bias(points)[:, None, None, None]
        return (base + bias).flatten(2).transpose(1, 2)


def cos(a, b):
    return float(F.cosine_similarity(a, b, dim=0))


def cell_points(cells, size):
    """``(1, P, 2)`` view pixels at the centres of ``cells`` (row, col) of
    a 16 x 16 grid over a ``size`` px square view."""
    step = size / 16
    return torch.tensor([[[(c + 0.5) * step, (r + 0.5) * step]
                          for r, c in cells]])


def test_a_view_equal_to_its_source_gives_the_per_view_targets():
    torch.manual_seed(0)
    maps = torch.randn(2, 8, 16, 16)
    sam = FieldSAM(maps)
    points = torch.rand(2, 5, 2, generator=torch.Generator().manual_seed(1))
    points = points * 64
    per_view = sam_similarity_targets(sam, torch.zeros(2, 3, 64, 64),
                                      points, chunk=3)
    source = sam_similarity_targets_in_source(
        sam, [SAMEmbeddings(maps[i:i + 1], (64, 64)) for i in range(2)],
        [np.eye(3)] * 2, points, (64, 64), chunk=3)
    for a, b in zip(per_view, source):
        assert torch.allclose(a.float(), b.float(), atol=1e-6)


def test_a_flipped_view_reads_the_mirrored_source_cells():
    torch.manual_seed(0)
    maps = torch.randn(1, 8, 16, 16)
    sam = FieldSAM(maps)
    flip = np.array([[-1., 0., 64.], [0., 1., 0.], [0., 0., 1.]])
    cells = [(2, 3), (10, 0), (15, 15)]
    points = cell_points(cells, 64)
    c_sam, _, _ = sam_similarity_targets_in_source(
        sam, [SAMEmbeddings(maps, (64, 64))], [np.linalg.inv(flip)], points,
        (64, 64))
    for p, (r, c) in enumerate(cells):
        src_point = torch.tensor([[64 - (c + 0.5) * 4, (r + 0.5) * 4]])
        field = maps[0] + FieldSAM.bias(src_point)  # (C, 16, 16)
        at_point = field[:, r, 15 - c]
        for j in (0, 5, 100, 255):
            jr, jc = divmod(j, 16)
            expected = cos(at_point, field[:, jr, 15 - jc])
            assert float(c_sam[0, p, j]) == pytest.approx(expected, abs=1e-5)


def test_a_view_scaled_twice_reads_the_source_cells_it_covers():
    torch.manual_seed(0)
    maps = torch.randn(1, 8, 16, 16)
    sam = FieldSAM(maps)
    scale = np.diag([2., 2., 1.])  # a 64 px source shown at 128 px
    cells = [(1, 1), (7, 12)]
    points = cell_points(cells, 128)
    c_sam, grid_xy, valid = sam_similarity_targets_in_source(
        sam, [SAMEmbeddings(maps, (64, 64))], [np.linalg.inv(scale)], points,
        (128, 128))
    # the view's grid: 16 cells of 8 px, all inside the view
    assert grid_xy[:2].tolist() == [[4.0, 4.0], [12.0, 4.0]]
    assert bool(valid.all())
    for p, (r, c) in enumerate(cells):
        src_point = torch.tensor([[(c + 0.5) * 4, (r + 0.5) * 4]])
        field = maps[0] + FieldSAM.bias(src_point)
        for j in (3, 77, 254):
            expected = cos(field[:, r, c], field[:, j // 16, j % 16])
            assert float(c_sam[0, p, j]) == pytest.approx(expected, abs=1e-5)


def test_a_crop_reads_the_source_map_bilinearly_between_its_cells():
    # an affine field is reproduced exactly by bilinear sampling, so the
    # feature at a query point is the field's value there; the map is
    # C_SAM on the source's cells (8 px apart, centres at 4 + 8k), read
    # bilinearly at the crop's cells mapped into the source
    ys, xs = torch.meshgrid(
        torch.arange(16.) * 8 + 4, torch.arange(16.) * 8 + 4, indexing='ij')
    coef = torch.tensor([[0.02, -0.01, 0.5], [-0.03, 0.02, 1.0],
                         [0.01, 0.01, -2.0], [0.0, -0.02, 0.7]])
    maps = (coef[:, 0, None, None] * xs + coef[:, 1, None, None] * ys +
            coef[:, 2, None, None])[None]  # (1, C, 16, 16), 128 px source

    def field_at(x, y, point):
        return coef[:, 0] * x + coef[:, 1] * y + coef[:, 2] + \
            FieldSAM.bias(point)[0]

    def source_map_at(x, y, at_point, point):
        fx, fy = (x - 4) / 8, (y - 4) / 8
        x0, y0 = math.floor(fx), math.floor(fy)
        wx, wy = fx - x0, fy - y0
        value = 0.0
        for dx, dy, weight in ((0, 0, (1 - wx) * (1 - wy)),
                               (1, 0, wx * (1 - wy)),
                               (0, 1, (1 - wx) * wy), (1, 1, wx * wy)):
            cell = field_at(4 + 8 * (x0 + dx), 4 + 8 * (y0 + dy), point)
            value += weight * cos(at_point, cell)
        return value

    sam = FieldSAM(maps)
    crop = np.array([[1., 0., -32.], [0., 1., -16.], [0., 0., 1.]])
    points = torch.tensor([[[10.0, 20.0], [40.0, 50.0]]])  # view px
    c_sam, grid_xy, _ = sam_similarity_targets_in_source(
        sam, [SAMEmbeddings(maps, (128, 128))], [np.linalg.inv(crop)],
        points, (64, 64))
    assert c_sam.shape == (1, 2, 256)
    for p in range(2):
        sx, sy = points[0, p, 0] + 32, points[0, p, 1] + 16
        src_point = torch.tensor([[float(sx), float(sy)]])
        at_point = field_at(sx, sy, src_point)
        for j in (0, 31, 200):
            cx, cy = grid_xy[j].tolist()  # view cells 2 + 4k: between
            expected = source_map_at(cx + 32, cy + 16, at_point, src_point)
            assert float(c_sam[0, p, j]) == pytest.approx(expected, abs=1e-4)


def view_batch(tmp_path, flips):
    """A labeled batch of one 64 px image file, as mmdet's RandomFlip
    leaves each view: pixels, GT and homography_matrix."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    path = str(tmp_path / 'tile.png')
    mmcv.imwrite(image[..., ::-1], path)  # written BGR, read back RGB
    inputs, samples = [], []
    for flip in flips:
        view = image[:, ::-1] if flip else image
        matrix = np.array([[-1., 0., 64.], [0., 1., 0.], [0., 0., 1.]]) \
            if flip else np.eye(3)
        masks = np.zeros((1, 64, 64), np.uint8)
        masks[0, 10:30, 5:25] = 1
        if flip:
            masks = masks[:, :, ::-1].copy()
        sample = DetDataSample(metainfo=dict(
            img_path=path, ori_shape=(64, 64), img_shape=(64, 64),
            batch_input_shape=(64, 64), pad_shape=(64, 64),
            scale_factor=(1., 1.), homography_matrix=matrix))
        sample.gt_instances = InstanceData(
            masks=BitmapMasks(masks, 64, 64),
            labels=torch.zeros(1, dtype=torch.long),
            bboxes=torch.tensor([[5., 10., 25., 30.]]))
        inputs.append(torch.from_numpy(view.copy()).permute(2, 0, 1).float())
        samples.append(sample)
    return {'inputs': inputs, 'data_samples': samples}


def source_teacher(**override):
    cfg = tiny_teacher_cfg()
    cfg.model.update(sd_frame='source', **override)
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def test_the_sd_teacher_encodes_an_image_once_for_all_its_views(tmp_path):
    model = source_teacher()
    encoded = []
    original = model.predictor.adapter.embed_image_list

    def counting(images):
        encoded.append(len(images))
        return original(images)

    model.predictor.adapter.embed_image_list = counting
    data = model.data_preprocessor(view_batch(tmp_path, [False, True]),
                                   True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert torch.isfinite(losses['loss_sd'])
    # both views come from one file: encoded once, then found in the store
    assert encoded == [1] and model.predictor.source.misses == 1
    data = model.data_preprocessor(view_batch(tmp_path, [True, False]),
                                   True)
    model.loss(data['inputs'], data['data_samples'])
    assert model.predictor.source.misses == 0
    assert encoded == [1]


def test_source_options_and_metainfo_are_checked(tmp_path):
    cfg = tiny_teacher_cfg()
    cfg.model.update(sd_frame='view', sd_store=dict(memory_bytes=2**20))
    with pytest.raises(ValueError, match="sd_frame='source'"):
        MODELS.build(cfg.model)
    cfg = tiny_teacher_cfg()
    cfg.model.update(sd_frame='sourse')
    with pytest.raises(ValueError, match='sd_frame must be one of'):
        MODELS.build(cfg.model)
    model = source_teacher()
    data = view_batch(tmp_path, [False])
    del data['data_samples'][0].homography_matrix
    data = model.data_preprocessor(data, True)
    with pytest.raises(KeyError, match='homography_matrix'):
        model.loss(data['inputs'], data['data_samples'])


# ---------------------------------------------------------------- the bank
class BankSAM(FieldSAM):
    """FieldSAM with a store identity, counting its prompt decodes."""

    def __init__(self, maps):
        super().__init__(maps)
        self.decoded = 0

    def store_identity(self, device=None):
        return dict(adapter='BankSAM', sam_type='field', img_size=64,
                    weights='0')

    def point_features(self, embeddings, points, image_index=None):
        self.decoded += len(points)
        return super().point_features(embeddings, points, image_index)


def test_bank_entries_are_the_targets_of_their_lattice_points():
    torch.manual_seed(0)
    maps = torch.randn(1, 8, 16, 16)
    sam = BankSAM(maps)
    emb = SAMEmbeddings(maps, (64, 64))
    entry = bank_entry(sam, emb, stride=2, chunk=7)
    assert entry.shape == (8, 8, 16, 16)
    assert sam.decoded == 64  # one decode per lattice point, once
    # lattice point (i, j) is the centre of cell (2i, 2j): 4 px cells
    cells = [(0, 0), (2, 6), (14, 14)]
    points = cell_points(cells, 64)
    expected, grid_xy, _ = sam_similarity_targets_in_source(
        sam, [emb], [np.eye(3)], points, (64, 64))
    got = read_bank(entry, sam, 2, points[0], grid_xy)
    assert torch.allclose(got, expected[0], atol=1e-5)


def test_the_bank_interpolates_between_lattice_points():
    torch.manual_seed(0)
    maps = torch.randn(1, 8, 16, 16)
    sam = BankSAM(maps)
    entry = bank_entry(sam, SAMEmbeddings(maps, (64, 64)), stride=2)
    grid_xy = sam.cell_centres((64, 64))
    # halfway between lattice points (1, 2) and (1, 3): cells (2, 4) and
    # (2, 6), centres x = 18 and 26 at y = 10
    got = read_bank(entry, sam, 2, torch.tensor([[22.0, 10.0]]), grid_xy)
    expected = (entry[1, 2] + entry[1, 3]).flatten() / 2
    assert torch.allclose(got[0], expected, atol=1e-5)
    # beyond the last lattice column a point reads the border
    got = read_bank(entry, sam, 2, torch.tensor([[63.0, 10.0]]), grid_xy)
    assert torch.allclose(got[0], entry[1, 7].flatten(), atol=1e-5)


def test_a_bank_entry_serves_every_view_without_sam(tmp_path):
    model = source_teacher(sd_bank=dict(stride=4))
    calls = []
    original = model.predictor.adapter.point_features

    def counting(*args, **kwargs):
        calls.append(len(args[1]))
        return original(*args, **kwargs)

    model.predictor.adapter.point_features = counting
    data = model.data_preprocessor(view_batch(tmp_path, [False, True]),
                                   True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert torch.isfinite(losses['loss_sd'])
    # one image: its 4 x 4 lattice of a 16 x 16 grid decoded once
    h, w = model.predictor.adapter.embed_size
    assert sum(calls) == -(-h // 4) * -(-w // 4)
    assert model.predictor.bank.misses == 1
    calls.clear()
    data = model.data_preprocessor(view_batch(tmp_path, [True]), True)
    model.loss(data['inputs'], data['data_samples'])
    assert calls == [] and model.predictor.bank.misses == 0
