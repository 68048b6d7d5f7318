# Copyright (c) s4m-mm authors. All rights reserved.
"""The strong photometric augmentation of S4M's unlabeled student batch
(colour jitter, grayscale, Gaussian blur), as an mmdet batch augment.

Inside this module an image is a ``(3, H, W)`` float tensor in the 0-255
range of the (padded, not yet normalised) batch input.
"""
import math
from typing import List, Sequence, Tuple

import torchvision.transforms.v2.functional as TF
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from .base_batch_augment import (BaseBatchAugment, check_probability,
                                 check_range, valid_hw)

#: The strong augmentation of the paper (the defaults of the class).
DEFAULT_PHOTOMETRIC = dict(
    brightness=0.4,
    contrast=0.4,
    saturation=0.4,
    hue=0.1,
    color_jitter_prob=0.8,
    grayscale_prob=0.2,
    blur_prob=0.5,
    blur_sigma=(0.1, 2.0))

COLOR_JITTER_OPS = dict(
    brightness=TF.adjust_brightness,
    contrast=TF.adjust_contrast,
    saturation=TF.adjust_saturation,
    hue=TF.adjust_hue)


def blur_kernel_size(sigma: float, shorter_side: int) -> int:
    """Odd Gaussian kernel size covering +-3 sigma, capped so that the
    reflect padding of the blur stays smaller than the image side."""
    size = 2 * math.ceil(3 * sigma) + 1
    return min(size, 2 * shorter_side - 1)


def apply_color_jitter(image: Tensor, ops: Sequence[Tuple[str,
                                                          float]]) -> Tensor:
    """Apply colour jitter ops in the given order.

    Args:
        image (Tensor): ``(3, H, W)`` RGB float in [0, 1].
        ops (Sequence[tuple[str, float]]): ``(name, factor)`` pairs, names
            among ``COLOR_JITTER_OPS``.

    Returns:
        Tensor: ``(3, H, W)`` RGB float in [0, 1].
    """
    for name, factor in ops:
        image = COLOR_JITTER_OPS[name](image, factor)
    return image


@MODELS.register_module()
class StrongPhotometricAug(BaseBatchAugment):
    """The strong augmentation of S4M, one independent draw per image of
    the unlabeled student batch, inside its valid area (``img_shape``; the
    padding is left as it is):

    - ``ColorJitter(brightness, contrast, saturation, hue)`` with
      probability ``color_jitter_prob`` (the four ops in random order, as
      torchvision's ``ColorJitter``; ops of strength 0 left out);
    - grayscale with probability ``grayscale_prob``;
    - a Gaussian blur with ``sigma ~ U(*blur_sigma)`` (kernel
      ``2 ceil(3 sigma) + 1``) with probability ``blur_prob``.

    Masks and every other field of the samples are not touched. Called as
    ``inputs, data_samples = aug(inputs, data_samples)`` with ``inputs`` a
    ``(B, 3, H, W)`` float batch, 0-255, not normalised (not modified).

    Args:
        brightness, contrast, saturation (float): jitter strengths, >= 0;
            factors are drawn from ``U(max(0, 1 - s), 1 + s)``. Default 0.4.
        hue (float): hue shift drawn from ``U(-hue, hue)``, in [0, 0.5].
            Defaults to 0.1.
        color_jitter_prob (float): Defaults to 0.8.
        grayscale_prob (float): Defaults to 0.2.
        blur_prob (float): Defaults to 0.5.
        blur_sigma (tuple[float, float]): range of the blur's sigma, > 0.
            Defaults to ``(0.1, 2.0)``.
        bgr (bool): whether ``inputs`` are BGR; colour ops always act on
            RGB. Defaults to False (S4M hands its augments RGB).
        generator_seed (int, optional): see :class:`BaseBatchAugment`.
    """

    def __init__(self,
                 brightness: float = 0.4,
                 contrast: float = 0.4,
                 saturation: float = 0.4,
                 hue: float = 0.1,
                 color_jitter_prob: float = 0.8,
                 grayscale_prob: float = 0.2,
                 blur_prob: float = 0.5,
                 blur_sigma: Tuple[float, float] = (0.1, 2.0),
                 bgr: bool = False,
                 generator_seed=None) -> None:
        super().__init__(generator_seed)
        for name, value in (('brightness', brightness),
                            ('contrast', contrast),
                            ('saturation', saturation)):
            if value < 0:
                raise ValueError(f'{name} must be >= 0, got {name}={value!r}')
        if not 0.0 <= hue <= 0.5:
            raise ValueError(f'hue must be in [0, 0.5], got hue={hue!r}')
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.saturation = float(saturation)
        self.hue = float(hue)
        self.color_jitter_prob = check_probability('color_jitter_prob',
                                                   color_jitter_prob)
        self.grayscale_prob = check_probability('grayscale_prob',
                                                grayscale_prob)
        self.blur_prob = check_probability('blur_prob', blur_prob)
        self.blur_sigma = check_range('blur_sigma', blur_sigma, 0.0, False)
        self.bgr = bool(bgr)

    @property
    def settings(self) -> dict:
        """The settings, with the keys of ``DEFAULT_PHOTOMETRIC``."""
        return {key: getattr(self, key) for key in DEFAULT_PHOTOMETRIC}

    def forward(
        self, inputs: Tensor, data_samples: List[DetDataSample]
    ) -> Tuple[Tensor, List[DetDataSample]]:
        """Augment every image of the batch.

        Args:
            inputs (Tensor): ``(B, 3, H, W)`` float batch input, 0-255.
            data_samples (list[DetDataSample]): ``B`` samples (``img_shape``
                gives each image's valid area).

        Returns:
            tuple[Tensor, list[DetDataSample]]: the ``(B, 3, H, W)``
            augmented batch and the samples, unchanged.
        """
        self.check_layout(inputs, data_samples)
        height, width = inputs.shape[-2:]
        outputs = inputs.clone()
        for index, data_sample in enumerate(data_samples):
            valid_h, valid_w = valid_hw(data_sample, height, width)
            outputs[index, :, :valid_h, :valid_w] = self.augment_image(
                outputs[index, :, :valid_h, :valid_w])
        return outputs, data_samples

    def augment_image(self, image: Tensor) -> Tensor:
        """One independent draw of the strong augmentation.

        Args:
            image (Tensor): ``(3, h, w)`` float 0-255, RGB or BGR per
                ``bgr``.

        Returns:
            Tensor: ``(3, h, w)`` float 0-255 in the same channel order;
            ``image`` itself when no op was drawn.
        """
        jitter_ops = (
            self._draw_color_jitter()
            if self._bernoulli(self.color_jitter_prob) else None)
        grayscale = self._bernoulli(self.grayscale_prob)
        sigma = (
            self._uniform(*self.blur_sigma)
            if self._bernoulli(self.blur_prob) else None)
        if jitter_ops is None and not grayscale and sigma is None:
            return image

        rgb = (image.flip(0) if self.bgr else image).div(255).clamp(0, 1)
        if jitter_ops is not None:
            rgb = apply_color_jitter(rgb, jitter_ops)
        if grayscale:
            rgb = TF.rgb_to_grayscale(rgb, num_output_channels=3)
        if sigma is not None:
            size = blur_kernel_size(sigma, min(rgb.shape[-2:]))
            rgb = TF.gaussian_blur(rgb, [size, size], [sigma, sigma])
        rgb = rgb.mul(255)
        return rgb.flip(0) if self.bgr else rgb

    def _draw_color_jitter(self) -> List[Tuple[str, float]]:
        """Draw the op order and factors of ``ColorJitter`` as torchvision
        does; ops whose strength is 0 are left out."""
        names = ('brightness', 'contrast', 'saturation', 'hue')
        order = self._randperm(len(names))
        factors = {}
        for name in names[:3]:
            strength = getattr(self, name)
            if strength > 0:
                factors[name] = self._uniform(
                    max(0.0, 1 - strength), 1 + strength)
        if self.hue > 0:
            factors['hue'] = self._uniform(-self.hue, self.hue)
        return [(names[i], factors[names[i]]) for i in order
                if names[i] in factors]

    def extra_repr(self) -> str:
        settings = ', '.join(f'{k}={v}' for k, v in self.settings.items())
        return (f'{settings}, bgr={self.bgr}, '
                f'generator_seed={self.generator_seed}')
