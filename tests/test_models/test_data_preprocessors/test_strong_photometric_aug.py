# Copyright (c) s4m-mm authors. All rights reserved.
"""StrongPhotometricAug: the paper's defaults, the checks of every setting
and input, what it changes (pixels in the valid area, never masks) and its
ops against torchvision's."""
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from mmengine.structures import InstanceData
from torchvision.transforms import ColorJitter

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from s4m_mm.models.data_preprocessors import StrongPhotometricAug
from s4m_mm.models.data_preprocessors.strong_photometric_aug import (
    DEFAULT_PHOTOMETRIC, blur_kernel_size)
from s4m_mm.testing.batch_augments import BAD_BATCH_AUGMENT_INPUTS

torch.set_num_threads(1)

SIZE = 32


def batch(n=4, img_shape=None, seed=0):
    """Noise images, each with one square mask, label and score."""
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, 256, (n, 3, SIZE, SIZE), generator=g).float()
    samples = []
    for index in range(n):
        sample = DetDataSample(
            metainfo={} if img_shape is None else dict(img_shape=img_shape))
        masks = torch.zeros(1, SIZE, SIZE, dtype=torch.bool)
        masks[0, 4 + index:12 + index, 4:12] = True
        sample.gt_instances = InstanceData(
            masks=masks, labels=torch.tensor([index]),
            scores=torch.tensor([0.9]))
        samples.append(sample)
    return inputs, samples


def test_defaults_are_the_papers():
    assert DEFAULT_PHOTOMETRIC == dict(
        brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1,
        color_jitter_prob=0.8, grayscale_prob=0.2, blur_prob=0.5,
        blur_sigma=(0.1, 2.0))
    aug = MODELS.build(dict(type='StrongPhotometricAug'))
    assert aug.settings == DEFAULT_PHOTOMETRIC
    assert (aug.bgr, aug.generator_seed, aug.generator) == (False, None,
                                                            None)
    assert StrongPhotometricAug(blur_sigma=[0.5, 1]).blur_sigma == (0.5, 1.0)


@pytest.mark.parametrize('kwargs,message', [
    (dict(brightness=-0.1), 'brightness must be >= 0, got brightness=-0.1'),
    (dict(saturation=-1), 'saturation must be >= 0'),
    (dict(hue=0.51), r'hue must be in \[0, 0.5\], got hue=0.51'),
    (dict(hue=-0.01), r'hue must be in \[0, 0.5\]'),
    (dict(blur_prob=1.5), r'blur_prob must be in \[0, 1\], got blur_prob'),
    (dict(grayscale_prob=-0.5), 'grayscale_prob=-0.5'),
    (dict(color_jitter_prob=2), 'color_jitter_prob=2'),
    (dict(blur_sigma=(0.0, 1.0)), r'blur_sigma must be a pair \(lo, hi\)'),
    (dict(blur_sigma=(2.0, 1.0)), r'blur_sigma=\(2.0, 1.0\)'),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StrongPhotometricAug(**kwargs)


def test_unknown_settings_are_named():
    with pytest.raises(TypeError, match='sharpness'):
        MODELS.build(dict(type='StrongPhotometricAug', sharpness=0.5))


def test_boundary_settings_are_accepted():
    aug = StrongPhotometricAug(hue=0.5, brightness=0.0,
                               blur_sigma=(0.1, 0.1), blur_prob=1.0)
    assert aug.hue == 0.5 and aug.brightness == 0.0
    assert StrongPhotometricAug(hue=0.0).hue == 0.0


@pytest.mark.parametrize('make,message', BAD_BATCH_AUGMENT_INPUTS)
def test_bad_inputs_are_named(make, message):
    inputs, samples = batch(3)
    with pytest.raises(ValueError, match='StrongPhotometricAug: .*' +
                       message):
        StrongPhotometricAug()(*make(inputs, samples))


def test_changes_pixels_of_every_image_not_the_samples():
    inputs, samples = batch()
    original = inputs.clone()
    before = [s.gt_instances.clone() for s in samples]
    outputs, out_samples = StrongPhotometricAug(
        color_jitter_prob=1.0, generator_seed=8)(inputs, samples)
    assert torch.equal(inputs, original), 'inputs must not be modified'
    assert out_samples is samples
    for index in range(len(inputs)):
        assert not torch.equal(outputs[index], inputs[index])
    assert outputs.min() >= 0 and outputs.max() <= 255
    for sample, old in zip(samples, before):
        for key in ('masks', 'labels', 'scores'):
            assert torch.equal(sample.gt_instances[key], old[key])


def test_stays_in_valid_area():
    inputs, samples = batch(img_shape=(20, 24))
    aug = StrongPhotometricAug(color_jitter_prob=1.0, blur_prob=1.0,
                               generator_seed=9)
    outputs, _ = aug(inputs, samples)
    # padding (rows >= 20, columns >= 24) is left as it is
    assert torch.equal(outputs[:, :, 20:], inputs[:, :, 20:])
    assert torch.equal(outputs[:, :, :, 24:], inputs[:, :, :, 24:])
    assert not torch.equal(outputs[:, :, :20, :24], inputs[:, :, :20, :24])


def test_a_wide_batch_is_augmented_to_its_right_edge():
    # 8 x 24 images (h x w) of coloured noise, grayscale always: every
    # pixel, the columns right of 8 too, has equal channels afterwards
    g = torch.Generator().manual_seed(0)
    inputs = torch.randint(0, 256, (2, 3, 8, 24), generator=g).float()
    for metainfo in ({}, dict(img_shape=(8, 24))):
        samples = [DetDataSample(metainfo=metainfo) for _ in range(2)]
        aug = StrongPhotometricAug(color_jitter_prob=0.0, grayscale_prob=1.0,
                                   blur_prob=0.0)
        outputs, _ = aug(inputs, samples)
        assert torch.allclose(outputs[:, 0], outputs[:, 1])
        assert torch.allclose(outputs[:, 1], outputs[:, 2])
        assert not torch.allclose(inputs[:, 0], inputs[:, 1])


def test_reproducible_with_seed():
    inputs, samples = batch()
    first = StrongPhotometricAug(generator_seed=3)(inputs, samples)[0]
    again = StrongPhotometricAug(generator_seed=3)(inputs, samples)[0]
    other = StrongPhotometricAug(generator_seed=4)(inputs, samples)[0]
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize(
    'settings',
    [
        dict(color_jitter_prob=0., grayscale_prob=1., blur_prob=0.),
        # hue alone is not symmetric in the channel order
        dict(
            color_jitter_prob=1.,
            brightness=0.,
            contrast=0.,
            saturation=0.,
            hue=0.1,
            grayscale_prob=0.,
            blur_prob=0.)
    ])
def test_bgr_inputs_are_jittered_as_rgb(settings):
    inputs, samples = batch()
    rgb = StrongPhotometricAug(generator_seed=10, **settings)(inputs,
                                                              samples)[0]
    bgr = StrongPhotometricAug(generator_seed=10, bgr=True,
                               **settings)(inputs.flip(1), samples)[0]
    torch.testing.assert_close(bgr.flip(1), rgb, atol=1e-3, rtol=0)
    if settings['grayscale_prob'] == 1:
        # ITU-R 601 luma, torchvision's grayscale
        weights = torch.tensor([0.2989, 0.587, 0.114])[:, None, None]
        luma = (inputs * weights).sum(1)
        torch.testing.assert_close(rgb[:, 0], rgb[:, 2])
        torch.testing.assert_close(rgb[:, 0], luma, atol=0.05, rtol=0)


def test_blur_kernel_size():
    assert blur_kernel_size(2.0, 100) == 13
    assert blur_kernel_size(0.1, 100) == 3
    assert blur_kernel_size(2.0, 4) == 7


def test_color_jitter_draws_as_torchvisions_get_params():
    """Op order and factors as ``ColorJitter.get_params`` draws them from
    the same generator state (without a seed the augment draws from
    torch's global generator)."""
    aug = StrongPhotometricAug()
    names = ('brightness', 'contrast', 'saturation', 'hue')
    for seed in range(5):
        torch.manual_seed(seed)
        ops = aug._draw_color_jitter()
        torch.manual_seed(seed)
        order, *factors = ColorJitter.get_params((0.6, 1.4), (0.6, 1.4),
                                                 (0.6, 1.4), (-0.1, 0.1))
        expected = [(names[i], factors[i]) for i in order.tolist()]
        assert [n for n, _ in ops] == [n for n, _ in expected]
        assert [f for _, f in ops] == pytest.approx(
            [f for _, f in expected], abs=1e-6)


def test_color_jitter_leaves_out_ops_of_strength_zero():
    aug = StrongPhotometricAug(brightness=0.0, hue=0.0, generator_seed=0)
    for _ in range(5):
        ops = dict(aug._draw_color_jitter())
        assert set(ops) == {'contrast', 'saturation'}
        assert all(0.6 <= f <= 1.4 for f in ops.values())
    aug = StrongPhotometricAug(contrast=1.5, hue=0.5, generator_seed=0)
    factors = [dict(aug._draw_color_jitter()) for _ in range(200)]
    contrast = [f['contrast'] for f in factors]
    hue = [f['hue'] for f in factors]
    # contrast in [max(0, 1 - 1.5), 2.5] = [0, 2.5], hue in [-0.5, 0.5]
    assert 0 <= min(contrast) < 0.2 and 2.3 < max(contrast) <= 2.5
    assert -0.5 <= min(hue) < -0.4 and 0.4 < max(hue) <= 0.5


@pytest.mark.parametrize('bgr', [False, True])
def test_blur_alone_is_torchvisions_gaussian_blur(bgr):
    # a 4 x 40 image: sigma 2 wants a 13 px kernel, capped at 2 * 4 - 1
    g = torch.Generator().manual_seed(0)
    rgb = torch.randint(0, 256, (3, 4, 40), generator=g).float()
    aug = StrongPhotometricAug(
        color_jitter_prob=0.0, grayscale_prob=0.0, blur_prob=1.0,
        blur_sigma=(2.0, 2.0), bgr=bgr, generator_seed=0)
    out = aug.augment_image(rgb.flip(0) if bgr else rgb)
    expected = TF.gaussian_blur(rgb / 255, [7, 7], [2.0, 2.0]) * 255
    torch.testing.assert_close(out.flip(0) if bgr else out, expected,
                               atol=1e-3, rtol=0)


def test_no_op_drawn_returns_the_image():
    aug = StrongPhotometricAug(color_jitter_prob=0.0, grayscale_prob=0.0,
                               blur_prob=0.0, generator_seed=0)
    image = torch.rand(3, 5, 6) * 255
    assert aug.augment_image(image) is image
