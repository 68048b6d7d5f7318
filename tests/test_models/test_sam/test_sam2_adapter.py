# Copyright (c) s4m-mm authors. All rights reserved.
"""SAM 2 behind the adapter: the numbers of the ``sam2`` package's own
predictor and transformer, on a random-weight Hiera-tiny built from the
package's config (no checkpoint is reachable here)."""
import numpy as np
import pytest
import torch

from s4m_mm.models.backbones import CheckpointMismatchError
from s4m_mm.models.sam import SAM2Adapter, SAMAdapter
from s4m_mm.models.sam.sam1 import build_vit_sam
from s4m_mm.testing import tiny_sam2_options

# a non-square image: SAM 2 squashes it to 1024 x 1024
IMAGE_HW = (300, 500)
URL_2_0 = 'https://dl.fbaipublicfiles.com/segment_anything_2/072824/'
URL_2_1 = 'https://dl.fbaipublicfiles.com/segment_anything_2/092824/'


@pytest.fixture(scope='module')
def hiera_t():
    torch.manual_seed(0)
    return SAM2Adapter('sam2_hiera_t', checkpoint=None, random_init=True)


@pytest.fixture(scope='module')
def image():
    """``(3, H, W)`` integer-valued float RGB, as uint8 pixels would be."""
    gen = torch.Generator().manual_seed(0)
    return (torch.rand(3, *IMAGE_HW, generator=gen) * 255).round()


@pytest.fixture(scope='module')
def embeddings(hiera_t, image):
    return hiera_t.embed_images(image[None])


@pytest.fixture(scope='module')
def predictor(hiera_t, image):
    """``sam2``'s ``SAM2ImagePredictor`` on the same model and image."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor
    predictor = SAM2ImagePredictor(hiera_t.sam)
    predictor.set_image(image.permute(1, 2, 0).numpy().astype(np.uint8))
    return predictor


@pytest.fixture(scope='module')
def tiny_checkpoint(hiera_t, tmp_path_factory):
    """The random Hiera-tiny saved as the official files are: ``{'model':
    state_dict}``."""
    path = tmp_path_factory.mktemp('sam2') / 'random_sam2_hiera_tiny.pt'
    torch.save({'model': hiera_t.sam.state_dict()}, path)
    return str(path)


def test_random_weights_only_when_asked_and_missing_files_say_where():
    with pytest.raises(FileNotFoundError,
                       match='checkpoint is None.*' + URL_2_0 +
                       'sam2_hiera_tiny.pt'):
        SAM2Adapter('sam2_hiera_t')
    missing = '/nonexistent/sam2.1_hiera_large.pt'
    with pytest.raises(FileNotFoundError,
                       match=f'{missing}.*does not exist.*{URL_2_1}'
                       'sam2.1_hiera_large.pt'):
        SAM2Adapter('sam2.1_hiera_l', checkpoint=missing)
    with pytest.raises(ValueError,
                       match=r"'sam2_hiera_t'.*'sam2.1_hiera_l'\].*"
                       "type='SAMAdapter'"):
        SAM2Adapter('hiera_l')
    with pytest.raises(ValueError, match='img_size=512.*random_init'):
        SAM2Adapter('sam2_hiera_t', checkpoint=missing, img_size=512)


def test_geometry_is_a_square_resize(hiera_t):
    """A 512 x 1024 crop: 64 x 64 cells of 8 x 16 px, none of them
    padding; prompts scale by (S / W, S / H)."""
    adapter = hiera_t
    assert (adapter.img_size, adapter.embed_size) == (1024, (64, 64))
    assert adapter.input_scale((512, 1024)) == (1.0, 2.0)
    assert adapter.content_shape((512, 1024)) == (1024, 1024)
    xy = adapter.to_input_coords(torch.tensor([[100., 50.]]), (512, 1024))
    assert xy.tolist() == [[100., 100.]]
    centres = adapter.cell_centres((512, 1024))
    assert centres.shape == (64 * 64, 2)
    assert centres[0].tolist() == [8., 4.]  # cell (0, 0): 16 wide, 8 high
    assert centres[1].tolist() == [24., 4.]  # next column
    assert centres[64].tolist() == [8., 12.]  # next row
    assert centres[-1].tolist() == [1016., 508.]
    assert bool(adapter.valid_cells((512, 1024)).all())


def test_preprocess_is_sam2s_transform(hiera_t, image):
    """``SAM2Transforms``: to [0, 1], antialiased resize to the square,
    ImageNet mean / std; up (the image) and down (a 1536 x 2048 one)."""
    from sam2.utils.transforms import SAM2Transforms
    transforms = SAM2Transforms(1024, mask_threshold=0.0)
    gen = torch.Generator().manual_seed(3)
    large = (torch.rand(3, 1536, 2048, generator=gen) * 255).round()
    for pixels in (image, large):
        expected = transforms(
            pixels.permute(1, 2, 0).numpy().astype(np.uint8))
        got = hiera_t.preprocess(pixels[None])[0]
        assert got.shape == (3, 1024, 1024)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_embeddings_equal_the_predictors_features(embeddings, predictor):
    """Image embedding with ``no_mem_embed`` and the two high-resolution
    levels projected by ``conv_s0`` / ``conv_s1``."""
    features = predictor._features
    assert embeddings.image.shape == (1, 256, 64, 64)
    assert embeddings.img_shape == IMAGE_HW
    assert [tuple(x.shape) for x in embeddings.high_res] == [
        (1, 32, 256, 256), (1, 64, 128, 128)
    ]
    torch.testing.assert_close(
        embeddings.image, features['image_embed'], rtol=1e-4, atol=1e-4)
    for ours, theirs in zip(embeddings.high_res, features['high_res_feats']):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('prompt', ['points', 'box', 'box+points'])
def test_masks_and_ious_equal_the_predictors(hiera_t, embeddings, predictor,
                                             prompt):
    """Three prompts on the image, multimask, at the image's resolution:
    logits and predicted IoUs of ``SAM2ImagePredictor.predict``."""
    gen = torch.Generator().manual_seed(1)
    height, width = IMAGE_HW
    points = torch.rand(3, 2, 2, generator=gen) * torch.tensor(
        [width - 1., height - 1.])
    labels = torch.tensor([[1, 0], [1, 1], [1, 0]])
    xy = torch.rand(3, 2, generator=gen) * torch.tensor([300., 150.])
    boxes = torch.cat([xy, xy + torch.tensor([150., 120.])], dim=1)
    prompts = {}
    if 'points' in prompt:
        prompts.update(points=points, point_labels=labels)
    if 'box' in prompt:
        prompts.update(boxes=boxes)
    logits, ious = hiera_t.predict_masks(
        embeddings, None, multimask_output=True, **prompts)
    ref_logits, ref_ious, _ = predictor.predict(
        point_coords=None if 'points' not in prompt else points.numpy(),
        point_labels=None if 'points' not in prompt else labels.numpy(),
        box=None if 'box' not in prompt else boxes.numpy(),
        multimask_output=True,
        return_logits=True)
    assert logits.shape == (3, 3, height, width) and ious.shape == (3, 3)
    torch.testing.assert_close(
        logits, torch.from_numpy(ref_logits), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(
        ious, torch.from_numpy(ref_ious), rtol=1e-4, atol=1e-4)


def test_single_mask_output_is_the_first_token(hiera_t, embeddings,
                                               predictor):
    box = torch.tensor([[40., 30., 260., 200.]])
    logits, ious = hiera_t.predict_masks(
        embeddings, None, boxes=box, multimask_output=False, out_size=(75,
                                                                       125))
    ref_logits, ref_ious, _ = predictor.predict(
        box=box.numpy(), multimask_output=False, return_logits=True)
    assert logits.shape == (1, 1, 75, 125)
    torch.testing.assert_close(ious[0], torch.from_numpy(ref_ious))
    full, _ = hiera_t.predict_masks(
        embeddings, None, boxes=box, multimask_output=False)
    torch.testing.assert_close(
        full[0], torch.from_numpy(ref_logits), rtol=1e-4, atol=1e-4)


def upstream_image_tokens(adapter, embeddings, points, index):
    """The image tokens after the last two-way block, read with a forward
    hook on ``sam2``'s own transformer while its mask decoder runs each
    point as ``SAM2ImagePredictor`` would."""
    model = adapter.sam
    decoder = model.sam_mask_decoder
    captured = []
    hook = decoder.transformer.layers[-1].register_forward_hook(
        lambda module, args, out: captured.append(out[1]))
    scale = torch.tensor(adapter.input_scale(embeddings.img_shape))
    try:
        with torch.no_grad():
            for point, i in zip(points, index.tolist()):
                sparse, dense = model.sam_prompt_encoder(
                    points=(point.view(1, 1, 2) * scale,
                            torch.ones(1, 1, dtype=torch.int)),
                    boxes=None,
                    masks=None)
                decoder(
                    image_embeddings=embeddings.image[i:i + 1],
                    image_pe=model.sam_prompt_encoder.get_dense_pe(),
                    sparse_prompt_embeddings=sparse,
                    dense_prompt_embeddings=dense,
                    multimask_output=True,
                    repeat_image=False,
                    high_res_features=[x[i:i + 1]
                                       for x in embeddings.high_res])
    finally:
        hook.remove()
    return torch.cat(captured)


def test_point_features_equal_the_upstream_transformers_image_tokens():
    """Prompts of two images of a wide frame, in chunks, through the
    factored path: the image tokens of ``sam2``'s ``TwoWayTransformer``
    (which the official S4M code edits to return them) to 1e-5."""
    torch.manual_seed(1)
    adapter = SAM2Adapter(
        'sam2_hiera_t',
        checkpoint=None,
        **tiny_sam2_options(img_size=256, decoder_chunk=3))
    gen = torch.Generator().manual_seed(2)
    images = torch.rand(2, 3, 96, 160, generator=gen) * 255
    embeddings = adapter.embed_images(images)
    assert embeddings.image.shape == (2, 256, 16, 16)
    index = torch.tensor([1, 0, 0, 1, 1, 0, 1])
    points = torch.rand(7, 2, generator=gen) * torch.tensor([159., 95.])
    feats = adapter.point_features(embeddings, points, index)
    expected = upstream_image_tokens(adapter, embeddings, points, index)
    assert feats.shape == (7, 16 * 16, 256)
    torch.testing.assert_close(feats, expected, rtol=1e-5, atol=1e-5)


def test_checkpoints_of_other_sams_are_refused_naming_what_they_hold(
        hiera_t, tiny_checkpoint, tmp_path):
    # another size of SAM 2
    with pytest.raises(CheckpointMismatchError) as err:
        SAM2Adapter('sam2_hiera_s', checkpoint=tiny_checkpoint)
    msg = str(err.value)
    assert tiny_checkpoint in msg and "sam_type='sam2_hiera_s'" in msg
    assert 'the file holds SAM 2.0 hiera_t (embed_dim 96, 12 blocks)' in msg
    # the same size of the other SAM 2 release
    with pytest.raises(CheckpointMismatchError,
                       match=r'holds SAM 2\.0 hiera_t.*missing keys: '
                       'no_obj_embed_spatial'):
        SAM2Adapter('sam2.1_hiera_t', checkpoint=tiny_checkpoint)
    # SAM 2 given to SAM 1 and the reverse
    with pytest.raises(CheckpointMismatchError,
                       match=r"sam_type='vit_b'.*holds SAM 2\.0 hiera_t"):
        SAMAdapter('vit_b', checkpoint=tiny_checkpoint)
    sam1 = str(tmp_path / 'sam_vit_b_small.pth')
    torch.save(build_vit_sam('vit_b', 64, 1).state_dict(), sam1)
    with pytest.raises(CheckpointMismatchError,
                       match=r"sam_type='sam2_hiera_t'.*holds SAM 1 vit_b "
                       r'\(embed_dim 768, 1 blocks\)'):
        SAM2Adapter('sam2_hiera_t', checkpoint=sam1)


def test_a_fitting_checkpoint_loads_every_weight(hiera_t, tiny_checkpoint):
    torch.manual_seed(5)  # other random weights before the load
    loaded = SAM2Adapter('sam2_hiera_t', checkpoint=tiny_checkpoint)
    assert loaded.checkpoint == tiny_checkpoint
    ours, theirs = loaded.sam.state_dict(), hiera_t.sam.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert not any(p.requires_grad for p in loaded.sam.parameters())
    assert list(loaded.state_dict()) == []
