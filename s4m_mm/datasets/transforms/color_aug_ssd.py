# Copyright (c) s4m-mm authors. All rights reserved.
"""SSD colour jitter exactly as detectron2's ``ColorAugSSDTransform`` (used
by Mask2Former's Cityscapes mappers and so by the S4M code)."""
from typing import Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ColorAugSSD(BaseTransform):
    """SSD colour jitter on a BGR image, in uint8 like detectron2.

    Brightness first, then either contrast, saturation, hue or saturation,
    hue, contrast (one coin); each step happens with probability 0.5 and
    clips to 0-255 in uint8. Saturation and hue work on OpenCV's uint8 HSV
    (hue 0-180, shifted by an integer in ``[-hue_delta, hue_delta]`` modulo
    180).

    mmdet's ``PhotoMetricDistortion`` differs: it also swaps the colour
    channels with probability 0.5, works in float without clipping between
    steps and draws the hue shift in degrees of 0-360.

    Required keys: ``img`` ``(H, W, 3)`` BGR, uint8 or float (rounded to
    uint8 first). Modified keys: ``img`` (same dtype as given).

    Args:
        brightness_delta (int): shift drawn from ``[-d, d]``. Defaults to 32.
        contrast_range (tuple[float]): factor range. Defaults to (0.5, 1.5).
        saturation_range (tuple[float]): factor range. Defaults to
            (0.5, 1.5).
        hue_delta (int): integer shift of OpenCV's hue. Defaults to 18.
    """

    def __init__(self,
                 brightness_delta: int = 32,
                 contrast_range: Tuple[float, float] = (0.5, 1.5),
                 saturation_range: Tuple[float, float] = (0.5, 1.5),
                 hue_delta: int = 18) -> None:
        self.brightness_delta = brightness_delta
        self.contrast_range = tuple(contrast_range)
        self.saturation_range = tuple(saturation_range)
        self.hue_delta = int(hue_delta)

    @cache_randomness
    def _random_params(self) -> dict:
        """The draws of one image: ``None`` for a step that is skipped."""
        rng = np.random

        def maybe(draw):
            return draw() if rng.randint(2) else None

        brightness = maybe(lambda: rng.uniform(-self.brightness_delta,
                                               self.brightness_delta))
        contrast_first = bool(rng.randint(2))
        return dict(
            brightness=brightness,
            contrast_first=contrast_first,
            contrast=maybe(lambda: rng.uniform(*self.contrast_range)),
            saturation=maybe(lambda: rng.uniform(*self.saturation_range)),
            hue=maybe(lambda: rng.randint(-self.hue_delta,
                                          self.hue_delta + 1)))

    @staticmethod
    def _convert(img: np.ndarray, alpha: float = 1.0,
                 beta: float = 0.0) -> np.ndarray:
        return np.clip(img.astype(np.float32) * alpha + beta, 0,
                       255).astype(np.uint8)

    def _saturation(self, img: np.ndarray, alpha: float) -> np.ndarray:
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        hsv[:, :, 1] = self._convert(hsv[:, :, 1], alpha=alpha)
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)

    @staticmethod
    def _hue(img: np.ndarray, delta: int) -> np.ndarray:
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        hsv[:, :, 0] = (hsv[:, :, 0].astype(int) + delta) % 180
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)

    def apply(self, img: np.ndarray, params: dict) -> np.ndarray:
        """Colour-jitter ``img`` with the given draws."""
        dtype = img.dtype
        out = img if dtype == np.uint8 else np.clip(
            np.rint(img), 0, 255).astype(np.uint8)
        out = np.ascontiguousarray(out)
        if params['brightness'] is not None:
            out = self._convert(out, beta=params['brightness'])
        steps = ['saturation', 'hue']
        steps = ['contrast'] + steps if params['contrast_first'] else \
            steps + ['contrast']
        for step in steps:
            value = params[step]
            if value is None:
                continue
            if step == 'contrast':
                out = self._convert(out, alpha=value)
            elif step == 'saturation':
                out = self._saturation(out, value)
            else:
                out = self._hue(out, value)
        return out.astype(dtype)

    def transform(self, results: dict) -> dict:
        results['img'] = self.apply(results['img'], self._random_params())
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(brightness_delta='
                f'{self.brightness_delta}, contrast_range='
                f'{self.contrast_range}, saturation_range='
                f'{self.saturation_range}, hue_delta={self.hue_delta})')
