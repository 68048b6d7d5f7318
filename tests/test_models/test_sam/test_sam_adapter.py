# Copyright (c) s4m-mm authors. All rights reserved.
import copy
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from torch import nn

from s4m_mm.models.sam import (LITE_MEDSAM_CHECKPOINT, LiteMedSAMAdapter,
                               SAMAdapter, SAMEmbeddings)
from s4m_mm.models.sam.sam1 import build_vit_sam
from s4m_mm.testing import tiny_sam_cfg, tiny_sam_options
from s4m_mm.utils import resolve_asset_path

VIT_TYPES = ('vit_b', 'vit_l', 'vit_h')
STARDIST_TILES = ((0, 0), (0, 1), (1, 0), (1, 1))


def small_vit(sam_type='vit_b', img_size=128, encoder_depth=1, **kwargs):
    torch.manual_seed(0)
    return SAMAdapter(
        sam_type,
        checkpoint=None,
        **tiny_sam_options(
            img_size=img_size, encoder_depth=encoder_depth, **kwargs))


def random_images(num, height, width, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(num, 3, height, width, generator=gen) * 255


@pytest.fixture(scope='module', autouse=True)
def one_cpu_thread():
    """Most ops here are tiny: with several threads on a busy machine the
    thread barriers cost more than the math. The image encoder of the real
    LiteMedSAM gets all threads back (:func:`stardist_batch`)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield threads
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def lite_medsam():
    torch.manual_seed(0)  # the init before the real weights are loaded
    return LiteMedSAMAdapter()


@pytest.fixture(scope='module')
def stardist_batch(lite_medsam, repo_root, one_cpu_thread):
    """4 real 128 px nuclei tiles: images ``(4, 3, 128, 128)`` float in
    0-255, their instance id maps and LiteMedSAM embeddings."""
    rgb, label_maps = stardist_tiles(repo_root, STARDIST_TILES)
    images = torch.from_numpy(rgb).float()
    torch.set_num_threads(one_cpu_thread)
    try:
        emb = lite_medsam.embed_images(images)
    finally:
        torch.set_num_threads(1)
    return images, label_maps, emb


@pytest.fixture(scope='module')
def vit_b():
    return small_vit('vit_b', img_size=128, encoder_depth=2)


def check_method_shapes(adapter, images, emb=None):
    """Shapes of every method for ``images`` ``(B >= 2, 3, H, W)``;
    ``emb``: their embeddings when already computed."""
    num, _, height, width = images.shape
    s, (h, w) = adapter.img_size, adapter.embed_size
    assert adapter.preprocess(images).shape == (num, 3, s, s)
    if emb is None:
        emb = adapter.embed_images(images)
    assert emb.image.shape == (num, 256, h, w)
    assert emb.image.dtype == torch.float32
    assert emb.img_shape == (height, width) and emb.high_res == ()
    index = torch.tensor([0, 1, 1])
    points = torch.tensor([[3., 4.], [width - 1., height - 1.], [10., 7.]])
    feats = adapter.point_features(emb, points, index)
    assert feats.shape == (3, h * w, 256) and feats.dtype == torch.float32
    boxes = torch.tensor([[0., 0., 20., 20.], [5., 6., 30., 25.],
                          [1., 1., width - 1., height - 1.]])
    masks, ious = adapter.predict_masks(
        emb, index, boxes=boxes, out_size=(height, width))
    assert masks.shape == (3, 3, height, width) and ious.shape == (3, 3)
    masks, ious = adapter.predict_masks(
        emb,
        index,
        points=points[:, None].repeat(1, 2, 1),
        point_labels=torch.tensor([[1, 0]] * 3),
        boxes=boxes,
        multimask_output=False,
        out_size=(17, 23))
    assert masks.shape == (3, 1, 17, 23) and ious.shape == (3, 1)
    assert masks.dtype == ious.dtype == torch.float32
    assert torch.isfinite(masks).all() and torch.isfinite(ious).all()


@pytest.mark.parametrize('sam_type', VIT_TYPES)
def test_vit_shapes_small_random(sam_type):
    adapter = small_vit(
        sam_type, img_size=64 if sam_type != 'vit_b' else 128, encoder_depth=1)
    assert adapter.embed_dim == 256
    assert adapter.embed_size == (adapter.img_size // 16, ) * 2
    check_method_shapes(adapter, random_images(2, 40, 56))


def test_lite_medsam_shapes(lite_medsam, stardist_batch):
    assert lite_medsam.img_size == 256
    assert lite_medsam.embed_size == (64, 64)
    assert lite_medsam.checkpoint == resolve_asset_path(LITE_MEDSAM_CHECKPOINT)
    images, _, emb = stardist_batch
    check_method_shapes(lite_medsam, images, emb)


def test_preprocess_resizes_normalises_and_pads(vit_b, lite_medsam):
    # vit: SAM mean/std, long side to S, zero padding bottom-right
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    images = mean.expand(1, 3, 32, 64).clone()
    out = vit_b.preprocess(images)
    assert vit_b.input_scale((32, 64)) == (2.0, 2.0)
    assert vit_b.content_shape((32, 64)) == (64, 128)
    assert out.shape == (1, 3, 128, 128)
    assert out.abs().max() < 1e-5
    images = torch.full((1, 3, 32, 64), 255.)
    out = vit_b.preprocess(images)
    assert (out[..., :64, :] > 0).all() and (out[..., 64:, :] == 0).all()
    # lite_medsam: per-image min-max to [0, 1], no mean / std
    images = torch.stack([
        torch.linspace(10, 50, 40 * 20).view(1, 40, 20).expand(3, 40, 20),
        torch.linspace(0, 255, 40 * 20).view(1, 40, 20).expand(3, 40, 20)
    ])
    out = lite_medsam.preprocess(images)
    assert out.shape == (2, 3, 256, 256)
    valid = out[..., :256, :128]
    for i in range(2):
        assert valid[i].min() == 0 and torch.isclose(valid[i].max(),
                                                     torch.tensor(1.))
    assert (out[..., 128:] == 0).all()


def test_invalid_sam_type_lists_the_valid_ones():
    with pytest.raises(ValueError,
                       match="'vit_h', 'vit_l', 'vit_b'.*LiteMedSAMAdapter"):
        SAMAdapter('vit_tiny')
    with pytest.raises(ValueError, match="lite_medsam.*type='SAMAdapter'"):
        LiteMedSAMAdapter('vit_b')


def test_missing_checkpoint_is_an_error(tmp_path):
    url = 'https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64'
    with pytest.raises(FileNotFoundError, match='checkpoint is None.*' + url):
        SAMAdapter('vit_b', checkpoint=None)
    missing = str(tmp_path / 'sam_none.pth')
    with pytest.raises(FileNotFoundError,
                       match=f'sam_none.pth.*does not exist.*{url}'):
        SAMAdapter('vit_b', checkpoint=missing)
    with pytest.raises(FileNotFoundError, match='not_a_package'):
        LiteMedSAMAdapter(checkpoint='pkg://not_a_package/lite_medsam.pth')


def test_architecture_overrides_need_random_init(tmp_path):
    with pytest.raises(ValueError, match='img_size=256.*random_init'):
        SAMAdapter('vit_b', checkpoint='x.pth', img_size=256)
    with pytest.raises(ValueError, match='encoder_depth=2.*random_init'):
        SAMAdapter('vit_b', checkpoint='x.pth', encoder_depth=2)
    with pytest.raises(ValueError, match='exclude each other'):
        SAMAdapter('vit_b', checkpoint='x.pth', random_init=True)
    with pytest.raises(TypeError,
                       match=r"unexpected arguments \['img_size'\]"):
        LiteMedSAMAdapter(checkpoint=None, random_init=True, img_size=512)
    with pytest.raises(ValueError, match='multiple of 16'):
        small_vit(img_size=100)


def test_mismatched_checkpoint_names_path_and_keys(tmp_path):
    # a small vit_b SAM saved where LiteMedSAM weights are expected
    vit_state = build_vit_sam('vit_b', img_size=64, encoder_depth=1)
    path = tmp_path / 'small_vit_b.pth'
    torch.save({'model': vit_state.state_dict()}, path)
    with pytest.raises(RuntimeError) as err:
        LiteMedSAMAdapter(checkpoint=str(path))
    msg = str(err.value)
    assert 'small_vit_b.pth' in msg and "'lite_medsam'" in msg
    assert 'the file holds SAM 1 vit_b (embed_dim 768, 1 blocks)' in msg
    assert 'missing keys: image_encoder.patch_embed.seq.0.c.weight' in msg
    assert 'unexpected keys: image_encoder.pos_embed' in msg
    # right keys, one wrong shape (a prompt encoder for another grid)
    state = torch.load(
        resolve_asset_path(LITE_MEDSAM_CHECKPOINT), weights_only=True)
    state = {'module.' + k: v for k, v in state.items()}
    key = 'module.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix'
    state[key] = state[key][:, :3]
    path = tmp_path / 'reshaped.pth'
    torch.save({'state_dict': state}, path)
    with pytest.raises(
            RuntimeError,
            match=r'reshaped\.pth.*1 keys of another shape: '
            r'prompt_encoder\.pe_layer'):
        LiteMedSAMAdapter(checkpoint=str(path))


def test_sam_is_frozen_and_outside_the_module_tree(vit_b):
    parent = nn.Module()
    parent.head = nn.Linear(256, 1)
    parent.sam = vit_b
    assert list(vit_b.state_dict()) == []
    assert list(parent.state_dict()) == ['head.weight', 'head.bias']
    assert len(list(parent.parameters())) == 2
    assert [name for name, _ in parent.named_modules()] == ['', 'head', 'sam']
    parent.load_state_dict(copy.deepcopy(parent.state_dict()), strict=True)

    parent.train()
    assert vit_b.training and parent.head.training
    assert not any(m.training for m in vit_b.sam.modules())
    assert not any(p.requires_grad for p in vit_b.sam.parameters())
    parent.double()  # a parent's dtype / device moves do not reach SAM
    assert vit_b.sam.mask_decoder.iou_token.weight.dtype == torch.float32
    parent.float()

    images = random_images(1, 64, 64).requires_grad_(True)
    emb = vit_b.embed_images(images)
    feats = vit_b.point_features(emb, torch.tensor([[10., 20.]]))
    assert not emb.image.requires_grad and not feats.requires_grad
    parent.head(feats).sum().backward()
    assert parent.head.weight.grad is not None
    assert all(p.grad is None for p in vit_b.sam.parameters())
    assert images.grad is None

    twin = copy.deepcopy(parent)
    assert twin.sam.sam is vit_b.sam
    assert twin.head.weight is not parent.head.weight


def test_registry_build_and_encoder_chunks():
    from mmdet.registry import MODELS
    cfg = tiny_sam_cfg(encoder_chunk=1)
    torch.manual_seed(0)
    chunked = MODELS.build(cfg)
    torch.manual_seed(0)
    whole = MODELS.build(dict(cfg, encoder_chunk=None))
    assert isinstance(chunked, SAMAdapter)
    images = random_images(3, 30, 20)
    torch.testing.assert_close(
        chunked.embed_images(images).image, whole.embed_images(images).image)


def test_sam_follows_the_device_of_its_inputs():
    adapter = small_vit(img_size=64)
    emb = adapter.embed_images(torch.rand(2, 3, 32, 48, device='meta'))
    assert emb.image.shape == (2, 256, 4, 4) and emb.device.type == 'meta'
    assert all(p.device.type == 'meta' for p in adapter.sam.parameters())


def test_batched_prompts_equal_per_image_calls():
    adapter = small_vit(img_size=128, encoder_depth=2, decoder_chunk=2)
    images = random_images(2, 48, 64, seed=1)
    emb = adapter.embed_images(images)
    index = torch.tensor([1, 0, 1, 0, 1])
    gen = torch.Generator().manual_seed(2)
    points = torch.rand(5, 2, 2, generator=gen) * torch.tensor([64., 48.])
    labels = torch.tensor([[1, 0], [1, 1], [1, 0], [0, 1], [1, 1]])
    xy = torch.rand(5, 2, generator=gen) * torch.tensor([30., 20.])
    boxes = torch.cat([xy, xy + torch.tensor([30., 25.])], dim=1)

    kwargs = dict(points=points, point_labels=labels, boxes=boxes)
    for multimask, keys in ((True, ('points', 'point_labels')),
                            (False, ('boxes', )), (True, tuple(kwargs))):
        prompts = {k: kwargs[k] for k in keys}
        masks, ious = adapter.predict_masks(
            emb,
            index,
            multimask_output=multimask,
            out_size=(48, 64),
            **prompts)
        for i in range(2):
            sel = index == i
            own = {k: v[sel] for k, v in prompts.items()}
            ref_masks, ref_ious = adapter.predict_masks(
                emb[i:i + 1],
                None,
                multimask_output=multimask,
                out_size=(48, 64),
                **own)
            torch.testing.assert_close(masks[sel], ref_masks)
            torch.testing.assert_close(ious[sel], ref_ious)

    feats = adapter.point_features(emb, points[:, 0], index)
    for i in range(2):
        sel = index == i
        ref = adapter.point_features(emb[i:i + 1], points[sel, 0])
        torch.testing.assert_close(feats[sel], ref)


def test_best_masks_are_the_highest_predicted_iou_candidates():
    """predict_best_masks upsamples only the chosen candidate: the same
    logits as predict_masks' three candidates followed by the argmax."""
    adapter = small_vit(img_size=128, encoder_depth=1, decoder_chunk=3)
    emb = adapter.embed_images(random_images(2, 40, 56, seed=3))
    gen = torch.Generator().manual_seed(4)
    index = torch.tensor([0, 1, 1, 0, 1])
    points = torch.rand(5, 3, 2, generator=gen) * torch.tensor([56., 40.])
    labels = torch.ones(5, 3)
    masks, ious = adapter.predict_masks(
        emb, index, points=points, point_labels=labels, out_size=(20, 28))
    best, best_iou = adapter.predict_best_masks(
        emb, index, points=points, point_labels=labels, out_size=(20, 28))
    pick = ious.argmax(dim=1)
    assert best.shape == (5, 20, 28) and best_iou.shape == (5, )
    torch.testing.assert_close(best, masks[torch.arange(5), pick])
    torch.testing.assert_close(best_iou, ious.max(dim=1).values)
    with pytest.raises(TypeError, match='predict_best_masks'):
        adapter.predict_best_masks(emb.image, index, points=points,
                                   point_labels=labels)


def test_outputs_match_segment_anything_decoder(vit_b):
    """Same math as segment_anything's predictor on one image: masks from
    ``MaskDecoder.forward`` + ``Sam.postprocess_masks``, point features as
    the image tokens returned by ``TwoWayTransformer.forward``."""
    from segment_anything.modeling import Sam
    sam = vit_b.sam
    reference = Sam(sam.image_encoder, sam.prompt_encoder, sam.mask_decoder)
    images = random_images(1, 40, 40, seed=3)
    emb = vit_b.embed_images(images)
    points = torch.tensor([[[5., 30.]], [[20., 12.]]])
    labels = torch.ones(2, 1)
    boxes = torch.tensor([[2., 3., 25., 33.], [10., 5., 39., 20.]])
    scale, _ = vit_b.input_scale((40, 40))

    captured = []
    hook = sam.mask_decoder.transformer.register_forward_hook(
        lambda module, args, out: captured.append(out[1]))
    with torch.no_grad():
        sparse, dense = sam.prompt_encoder(
            points=(points * scale, labels), boxes=None, masks=None)
        low_res, ref_ious = sam.mask_decoder(
            image_embeddings=emb.image,
            image_pe=sam.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=True)
        ref_masks = reference.postprocess_masks(low_res, (128, 128), (40, 40))
    hook.remove()
    masks, ious = vit_b.predict_masks(
        emb, None, points=points, point_labels=labels, out_size=(40, 40))
    torch.testing.assert_close(masks, ref_masks, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ious, ref_ious, rtol=1e-4, atol=1e-4)
    feats = vit_b.point_features(emb, points[:, 0])
    torch.testing.assert_close(feats, captured[0], rtol=1e-4, atol=1e-4)

    with torch.no_grad():
        sparse, dense = sam.prompt_encoder(
            points=None, boxes=boxes * scale, masks=None)
        low_res, ref_ious = sam.mask_decoder(emb.image,
                                             sam.prompt_encoder.get_dense_pe(),
                                             sparse, dense, False)
        ref_masks = reference.postprocess_masks(low_res, (128, 128), (20, 20))
    masks, ious = vit_b.predict_masks(
        emb,
        None,
        boxes=boxes,
        multimask_output=False,
        out_size=(20, 20))
    torch.testing.assert_close(masks, ref_masks, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ious, ref_ious, rtol=1e-4, atol=1e-4)


def test_bfloat16_autocast_gives_float32(vit_b):
    images = random_images(2, 32, 32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        emb = vit_b.embed_images(images)
        feats = vit_b.point_features(emb, torch.tensor([[3., 4.]] * 2),
                                     torch.tensor([0, 1]))
        masks, ious = vit_b.predict_masks(
            emb,
            torch.tensor([0, 1]),
            boxes=torch.tensor([[1., 2., 9., 20.]] * 2))
    for out in (emb.image, feats, masks, ious):
        assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_bad_prompts_are_named(vit_b):
    emb = vit_b.embed_images(random_images(2, 32, 32))
    with pytest.raises(ValueError, match='point_labels must be'):
        vit_b.predict_masks(
            emb, torch.tensor([0]), points=torch.zeros(1, 1, 2))
    with pytest.raises(ValueError, match='points must be \\(N, K, 2\\)'):
        vit_b.predict_masks(
            emb,
            torch.tensor([0]),
            points=torch.zeros(1, 2),
            point_labels=torch.ones(1, 1))
    with pytest.raises(ValueError, match='both are None'):
        vit_b.predict_masks(emb, torch.tensor([0]))
    with pytest.raises(ValueError, match=r'image_index values.*\[0, 2\)'):
        vit_b.predict_masks(emb, torch.tensor([2]), boxes=torch.zeros(1, 4))
    with pytest.raises(ValueError, match='must hold 1 image or one per'):
        vit_b.point_features(emb, torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r'embeddings must be \(B, 256'):
        vit_b.point_features(
            SAMEmbeddings(emb.image[:, :8], emb.img_shape), torch.zeros(2, 2))
    with pytest.raises(TypeError, match='SAMEmbeddings of embed_images'):
        vit_b.point_features(emb.image, torch.zeros(2, 2))
    empty_masks, empty_ious = vit_b.predict_masks(
        emb, torch.zeros(0, dtype=torch.long), boxes=torch.zeros(0, 4))
    assert empty_masks.shape == (0, 3, 32, 32) and empty_ious.shape == (0, 3)


def stardist_tiles(repo_root, tiles):
    """uint8 RGB tiles ``(T, 3, 128, 128)`` and their instance id maps."""
    from s4m_mm.demo.nuclei_data import (fetch_stardist_wheel,
                                         read_stardist_arrays, to_uint8)
    cache_dir = osp.join(repo_root, 'data', 'cache', 'stardist')
    if not glob.glob(osp.join(cache_dir, 'stardist-0.9.2-*.whl')):
        pytest.fail(f'the stardist==0.9.2 wheel is not in {cache_dir}; run '
                    '`make test` (or tools/setup_env.sh) to set up the '
                    'environment and its cached data first')
    image, labels = read_stardist_arrays(fetch_stardist_wheel(cache_dir))
    pixels = to_uint8(image)
    crops = [(slice(r * 128, (r + 1) * 128), slice(c * 128, (c + 1) * 128))
             for r, c in tiles]
    rgb = np.stack(
        [np.repeat(pixels[ys, xs][None], 3, axis=0) for ys, xs in crops])
    return rgb, [labels[ys, xs] for ys, xs in crops]


def test_lite_medsam_box_prompts_segment_real_nuclei(lite_medsam,
                                                     stardist_batch):
    _, label_maps, emb = stardist_batch
    gt_masks, boxes, index = [], [], []
    for i, label_map in enumerate(label_maps):
        for inst_id in np.unique(label_map[label_map > 0]):
            mask = label_map == inst_id
            if mask.sum() < 30:
                continue
            ys, xs = np.nonzero(mask)
            gt_masks.append(mask)
            boxes.append([xs.min(), ys.min(), xs.max(), ys.max()])
            index.append(i)
    assert len(gt_masks) >= 20

    logits, _ = lite_medsam.predict_masks(
        emb,
        torch.tensor(index),
        boxes=torch.tensor(boxes, dtype=torch.float32),
        multimask_output=False,
        out_size=(128, 128))
    pred = (logits[:, 0] > 0).numpy()
    gt = np.stack(gt_masks)
    iou = (pred & gt).sum((1, 2)) / (pred | gt).sum((1, 2))
    print(f'LiteMedSAM box-prompt mean mask IoU on {len(gt)} stardist '
          f'nuclei: {iou.mean():.4f}')
    assert iou.mean() > 0.55


def transformer_image_tokens(adapter, embeddings, points, index, img_shape):
    """The straightforward path of ``point_features``: ``segment_anything``'s
    ``PromptEncoder`` and ``TwoWayTransformer`` run prompt by prompt on the
    embedding of its image, as ``MaskDecoder.predict_masks``; the
    image-token output."""
    sam = adapter.sam
    decoder = sam.mask_decoder
    output_tokens = torch.cat(
        [decoder.iou_token.weight, decoder.mask_tokens.weight])[None]
    scale = torch.tensor(adapter.input_scale(img_shape))
    keys = []
    with torch.no_grad():
        for point, i in zip(points, index.tolist()):
            sparse, dense = sam.prompt_encoder(
                points=(point.view(1, 1, 2) * scale, torch.ones(1, 1)),
                boxes=None,
                masks=None)
            _, image_tokens = decoder.transformer(
                embeddings.image[i:i + 1] + dense,
                sam.prompt_encoder.get_dense_pe(),
                torch.cat([output_tokens, sparse], dim=1))
            keys.append(image_tokens)
    return torch.cat(keys)


def check_point_features_match_transformer(adapter, emb, img_shape, index,
                                           seed=0):
    """``point_features`` of prompts on several images in one call, in
    chunks of 3, equals the straightforward transformer path, in float32
    and (about as close to float32 as that path) under bf16 autocast."""
    gen = torch.Generator().manual_seed(seed)
    points = torch.rand(len(index), 2, generator=gen) * torch.tensor(
        [img_shape[1] - 1., img_shape[0] - 1.])
    decoder_chunk, adapter.decoder_chunk = adapter.decoder_chunk, 3
    try:
        feats = adapter.point_features(emb, points, index)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            feats_bf16 = adapter.point_features(emb, points, index)
            ref_bf16 = transformer_image_tokens(adapter, emb, points, index,
                                                img_shape)
    finally:
        adapter.decoder_chunk = decoder_chunk
    ref = transformer_image_tokens(adapter, emb, points, index, img_shape)
    h, w = adapter.embed_size
    assert feats.shape == (len(index), h * w, 256)
    assert feats.dtype == feats_bf16.dtype == torch.float32
    torch.testing.assert_close(feats, ref, rtol=1e-4, atol=1e-4)
    # the same single-point features on their own
    torch.testing.assert_close(
        adapter.point_features(emb[index[:1]], points[:1], None),
        ref[:1],
        rtol=1e-4,
        atol=1e-4)
    err_bf16 = (feats_bf16 - ref).abs().max()
    err_ref_bf16 = (ref_bf16 - ref).abs().max()
    assert err_bf16 < 2 * err_ref_bf16 + 1e-3, (err_bf16, err_ref_bf16)


def test_lite_medsam_point_features_match_transformer(lite_medsam,
                                                      stardist_batch):
    # prompts of images 1 and 3 of 4 (2 embeddings unused), interleaved
    _, _, emb = stardist_batch
    index = torch.tensor([3, 1, 1, 3, 3, 1, 3])
    check_point_features_match_transformer(lite_medsam, emb, (128, 128),
                                           index)


def test_vit_b_point_features_match_transformer():
    adapter = SAMAdapter('vit_b', checkpoint=None,
                         **tiny_sam_options(img_size=256))
    emb = adapter.embed_images(random_images(2, 200, 256, seed=4))
    index = torch.tensor([1, 0, 0, 1, 1, 0, 1])
    check_point_features_match_transformer(adapter, emb, (200, 256), index)
    empty = adapter.point_features(emb, torch.zeros(0, 2),
                                   torch.zeros(0, dtype=torch.long))
    assert empty.shape == (0, 256, 256)


@pytest.mark.parametrize('depth', [1, 3])
def test_point_features_other_transformer_depths(depth):
    """SAM's transformer has 2 layers; 1 and 3 take the other branches."""
    from segment_anything.modeling import TwoWayTransformer
    adapter = small_vit(img_size=64)
    torch.manual_seed(depth)
    adapter.sam.mask_decoder.transformer = TwoWayTransformer(
        depth=depth, embedding_dim=256, mlp_dim=2048, num_heads=8).eval()
    emb = adapter.embed_images(random_images(2, 64, 64, seed=5))
    check_point_features_match_transformer(adapter, emb, (64, 64),
                                           torch.tensor([0, 1, 1, 0]))


def test_embed_cache_returns_the_encoders_embeddings_and_evicts_lru():
    plain = small_vit('vit_b', img_size=64)
    cached = small_vit('vit_b', img_size=64, embed_cache_size=2)
    a, b, c = random_images(3, 48, 64, seed=3)
    batch = torch.stack([a, b, a])
    expected = plain.embed_images(batch)
    expected = expected.image
    cache = cached.embed_cache
    assert torch.allclose(cached.embed_images(batch).image, expected,
                          atol=1e-5)
    # a repeated image in one batch is encoded once
    assert (cache.misses, cache.hits) == (2, 1)
    assert torch.allclose(cached.embed_images(b[None]).image, expected[1:2],
                          atol=1e-5)
    assert (cache.misses, cache.hits) == (2, 2)
    # c evicts the least recently used image (a), keeps b
    cached.embed_images(c[None])
    cached.embed_images(b[None])
    assert (cache.misses, cache.hits) == (3, 3)
    cached.embed_images(a[None])
    assert (cache.misses, cache.hits) == (4, 3)
    # one changed pixel is another image
    changed = a.clone()
    changed[0, 0, 0] += 1
    cached.embed_images(changed[None])
    assert cache.misses == 5 and len(cache) == 2


def test_embed_cache_size_must_be_a_non_negative_int():
    with pytest.raises(ValueError, match='embed_cache_size'):
        small_vit('vit_b', img_size=64, embed_cache_size=-1)
