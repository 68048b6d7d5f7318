# Copyright (c) s4m-mm authors. All rights reserved.
"""SAMPseudoLabelRefiner(frame='source'): prompts mapped into the source
frame for flips, scalings and crops (coordinates by hand), the refined
masks against the per-view path where the two are exact (identity, flip),
the store reused across views, and the errors of missing metadata."""
import mmcv
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from mmdet.datasets.transforms import RandomFlip, Resize
from mmdet.structures import DetDataSample
from s4m_mm.models.refiners import SAMPseudoLabelRefiner
from s4m_mm.models.sam import SAMEmbeddings
from s4m_mm.models.utils.geometry import (transform_boxes, transform_points,
                                          warp_logits)
from s4m_mm.testing import tiny_sam_cfg

SAM1 = tiny_sam_cfg()
#: the source image: 30 x 40 (H x W)
H, W = 30, 40


def flip_x(width):
    return np.array([[-1., 0, width], [0, 1, 0], [0, 0, 1]])


def scale(sx, sy):
    return np.diag([sx, sy, 1.])


def crop(x0, y0):
    return np.array([[1., 0, -x0], [0, 1, -y0], [0, 0, 1]])


def test_mmdet_transforms_record_the_homographies_written_here():
    """The matrices of these tests are mmdet's (source -> view)."""
    results = dict(img=np.zeros((H, W, 3), np.uint8), img_shape=(H, W),
                   ori_shape=(H, W))
    results = Resize(scale=(2 * W, 2 * H), keep_ratio=False)(results)
    results = RandomFlip(prob=1.0, direction='horizontal')(results)
    np.testing.assert_allclose(results['homography_matrix'],
                               flip_x(2 * W) @ scale(2, 2))


def test_points_and_boxes_map_to_the_source_by_hand():
    # view = crop at (5, 3) of the horizontal flip of the source scaled x2
    to_view = crop(5, 3) @ flip_x(2 * W) @ scale(2, 2)
    to_source = np.linalg.inv(to_view)
    # (10.5, 7.5) -> uncrop (15.5, 10.5) -> unflip (64.5, 10.5) -> / 2;
    # (0.5, 0.5) -> (5.5, 3.5) -> (74.5, 3.5) -> (37.25, 1.75)
    points = torch.tensor([[[10.5, 7.5], [0.5, 0.5]]])
    expected = torch.tensor([[[32.25, 5.25], [37.25, 1.75]]])
    torch.testing.assert_close(transform_points(points, to_source), expected)
    # x [10, 20] -> [15, 25] -> [55, 65] -> [27.5, 32.5];
    # y [4, 12] -> [7, 15] -> [3.5, 7.5]
    boxes = torch.tensor([[10., 4., 20., 12.]])
    torch.testing.assert_close(
        transform_boxes(boxes, to_source),
        torch.tensor([[27.5, 3.5, 32.5, 7.5]]))
    # a pure scaling and a pure crop
    torch.testing.assert_close(
        transform_boxes(boxes, np.linalg.inv(scale(0.5, 0.25))),
        torch.tensor([[20., 16., 40., 48.]]))
    torch.testing.assert_close(
        transform_points(points, np.linalg.inv(crop(7, 2))),
        torch.tensor([[[17.5, 9.5], [7.5, 2.5]]]))


def test_warp_logits_flip_crop_and_outside():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 6, 8, generator=g)
    torch.testing.assert_close(
        warp_logits(logits, flip_x(8), (6, 8)), logits.flip(-1))
    # a crop at (2, 1): output pixel (r, c) is source (r + 1, c + 2)
    out = warp_logits(logits, crop(2, 1), (4, 7))
    torch.testing.assert_close(out[:, :, :6], logits[:, 1:5, 2:8])
    assert (out[:, :, 6] == -1e4).all()  # beyond the source
    assert torch.equal(warp_logits(logits, np.eye(3), (6, 8)), logits)


@pytest.fixture
def source_image(tmp_path):
    g = torch.Generator().manual_seed(1)
    rgb = (torch.rand(H, W, 3, generator=g) * 255).to(torch.uint8).numpy()
    path = str(tmp_path / 'img.png')
    mmcv.imwrite(rgb[..., ::-1], path)  # written as BGR, read as RGB
    return path, torch.from_numpy(rgb.copy()).permute(2, 0, 1).float()


def view_instances(masks):
    n = len(masks)
    return InstanceData(
        labels=torch.zeros(n, dtype=torch.long), scores=torch.ones(n),
        masks=masks, mask_logits=torch.zeros(n, 4, 4))


def rect_masks(hw, rects):
    masks = torch.zeros(len(rects), *hw, dtype=torch.bool)
    for k, (r0, r1, c0, c1) in enumerate(rects):
        masks[k, r0:r1, c0:c1] = True
    return masks


def sample(path, homography, img_shape, batch_shape):
    out = DetDataSample()
    out.set_metainfo(dict(
        img_path=path, ori_shape=(H, W), img_shape=img_shape,
        batch_input_shape=batch_shape, homography_matrix=homography))
    return out


def source_refiner(sam, disk_dir=None):
    return SAMPseudoLabelRefiner(
        sam=sam, prompt='box', frame='source',
        store=dict(memory_bytes=2**24, disk_dir=disk_dir))


def refiners(disk_dir=None):
    torch.manual_seed(0)
    view = SAMPseudoLabelRefiner(sam=dict(SAM1), prompt='box')
    # the same SAM weights
    return view, source_refiner(view.predictor.adapter, disk_dir)


def half_embeddings(refiner, image):
    """The per-view path's embeddings rounded as the store keeps them."""
    emb = refiner.embed(image[None])
    return SAMEmbeddings(emb.image.half().float(), emb.img_shape)


RECTS = [(2, 12, 3, 20), (15, 28, 22, 37)]


def test_identity_view_equals_the_per_view_path(source_image):
    path, image = source_image
    view, source = refiners()
    insts = [view_instances(rect_masks((H, W), RECTS))]
    expected, _ = view.refine_embedded(half_embeddings(view, image), insts)
    got, stats = source(image[None], insts,
                        data_samples=[sample(path, np.eye(3), (H, W),
                                             (H, W))])
    assert torch.equal(got[0].masks, expected[0].masks)
    assert stats['store_misses'] == 1 and stats['store_hits'] == 0


def test_flipped_view_equals_the_source_result_flipped(source_image):
    """A padded horizontal flip: the source path decodes the hand-mapped
    boxes on the source and flips the masks into the view; the padding
    (columns 40-47) is False."""
    path, image = source_image
    view, source = refiners()
    padded = (H, W + 8)
    rects_view = [(r0, r1, W - c1, W - c0) for r0, r1, c0, c1 in RECTS]
    insts = [view_instances(rect_masks(padded, rects_view))]
    got, _ = source(torch.zeros(1, 3, *padded), insts,
                    data_samples=[sample(path, flip_x(W), (H, W), padded)])
    boxes = torch.tensor([[c0, r0, c1, r1] for r0, r1, c0, c1 in RECTS],
                         dtype=torch.float32)
    logits, _ = view.predictor.predict_best_masks(
        half_embeddings(view, image), None, boxes=boxes, out_size=(H, W))
    expected = torch.zeros(2, *padded, dtype=torch.bool)
    expected[:, :, :W] = logits.flip(-1) > 0
    assert expected.any()
    assert torch.equal(got[0].masks, expected)


def test_store_serves_later_views_without_the_encoder(source_image,
                                                      tmp_path):
    path, image = source_image
    view, source = refiners(disk_dir=str(tmp_path / 'store'))
    calls = []
    adapter = source.predictor.adapter
    encode = adapter._encode
    adapter._encode = lambda x: calls.append(x.shape[0]) or encode(x)
    insts = [view_instances(rect_masks((H, W), RECTS))]
    samples = [sample(path, np.eye(3), (H, W), (H, W))]
    first, _ = source(image[None], insts, data_samples=samples)
    flipped = [view_instances(rect_masks((H, W), RECTS).flip(-1))]
    _, stats = source(image[None], flipped,
                      data_samples=[sample(path, flip_x(W), (H, W), (H, W))])
    assert calls == [1] and stats['store_hits'] == 1
    # a new process (a fresh refiner) reads the disk entry: no encoder
    again = source_refiner(adapter, disk_dir=str(tmp_path / 'store'))
    calls.clear()
    second, stats = again(image[None], insts, data_samples=samples)
    assert calls == [] and stats['store_hits'] == 1
    assert torch.equal(first[0].masks, second[0].masks)


def test_missing_metadata_and_wrong_size_are_named(source_image):
    path, image = source_image
    _, source = refiners()
    insts = [view_instances(rect_masks((H, W), RECTS))]
    bare = DetDataSample()
    bare.set_metainfo(dict(img_path=path, img_shape=(H, W)))
    with pytest.raises(KeyError, match="'ori_shape', 'homography_matrix'"):
        source(image[None], insts, data_samples=[bare])
    with pytest.raises(ValueError, match='data_samples'):
        source(image[None], insts)
    wrong = sample(path, np.eye(3), (H, W), (H, W))
    wrong.set_metainfo(dict(ori_shape=(H + 1, W)))
    with pytest.raises(ValueError, match='img.png.*ori_shape'):
        source(image[None], insts, data_samples=[wrong])


def test_frame_options_are_checked():
    with pytest.raises(ValueError, match='frame'):
        SAMPseudoLabelRefiner(sam=dict(SAM1), frame='crop')
    with pytest.raises(ValueError, match="frame='source'"):
        SAMPseudoLabelRefiner(sam=dict(SAM1), store=dict())
    with pytest.raises(ValueError, match='source_loader'):
        SAMPseudoLabelRefiner(sam=dict(SAM1), frame='source',
                              source_loader=dict(to_float32=True))
