# Copyright (c) s4m-mm authors. All rights reserved.
"""The one denormalisation of S4M and SAMDistillMask2Former, against the
data preprocessor's normalisation computed by hand."""
import pytest
import torch

from mmdet.models.data_preprocessors import DetDataPreprocessor
from s4m_mm.models.utils.pixels import denormalize, normalize, pixel_options

MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def bgr_images(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (2, 3, 8, 12), generator=g).float()


@pytest.mark.parametrize('bgr_to_rgb', [True, False])
@pytest.mark.parametrize('normalized', [True, False])
def test_denormalize_inverts_the_preprocessor(bgr_to_rgb, normalized):
    pre = DetDataPreprocessor(
        mean=MEAN if normalized else None,
        std=STD if normalized else None,
        bgr_to_rgb=bgr_to_rgb)
    bgr = bgr_images()
    inputs = pre(dict(inputs=list(bgr), data_samples=None))['inputs']
    # independently: flip to the model's order, then (x - mean) / std
    in_model_order = bgr.flip(1) if bgr_to_rgb else bgr
    expected = (in_model_order - torch.tensor(MEAN).view(1, 3, 1, 1)) / \
        torch.tensor(STD).view(1, 3, 1, 1) if normalized else in_model_order
    assert torch.allclose(inputs, expected, atol=1e-5)

    options = pixel_options(pre)
    assert options['channels_flipped'] is bgr_to_rgb
    assert (options['mean'] is None) is (not normalized)
    rgb = denormalize(inputs, **options)
    assert rgb.shape == bgr.shape and rgb.dtype == torch.float32
    # the pixels were integers: denormalisation gives them back in RGB
    assert torch.equal(rgb.round(), bgr.flip(1))
    assert torch.allclose(rgb, bgr.flip(1), atol=1e-3)
    assert torch.allclose(normalize(rgb, **options), inputs, atol=1e-5)


def test_multi_branch_preprocessor_gives_its_inner_options():
    inner = DetDataPreprocessor(mean=MEAN, std=STD, bgr_to_rgb=True)

    class Wrapper(torch.nn.Module):
        data_preprocessor = inner

    options = pixel_options(Wrapper())
    assert torch.equal(options['mean'], inner.mean)
    assert options['channels_flipped'] is True


def test_mean_without_std_is_an_error():
    with pytest.raises(ValueError, match='mean and std'):
        denormalize(torch.zeros(1, 3, 2, 2), torch.zeros(3, 1, 1), None,
                    True)


def test_options_of_a_non_image_preprocessor_name_the_missing_key():
    with pytest.raises(TypeError, match='_enable_normalize'):
        pixel_options(torch.nn.Identity())
