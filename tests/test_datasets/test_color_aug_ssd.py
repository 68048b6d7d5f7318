# Copyright (c) s4m-mm authors. All rights reserved.
"""ColorAugSSD: detectron2's SSD colour jitter (uint8 steps with clipping,
OpenCV's 0-180 hue), without mmdet's channel swap. Expected pixels are
worked out by hand."""
import numpy as np
import pytest

from mmdet.registry import TRANSFORMS
from s4m_mm.datasets import ColorAugSSD

NONE = dict(brightness=None, contrast_first=True, contrast=None,
            saturation=None, hue=None)


def pixel(bgr, dtype=np.float32):
    return np.array(bgr, dtype=dtype).reshape(1, 1, 3)


def test_registered():
    t = TRANSFORMS.build(dict(type='ColorAugSSD'))
    assert isinstance(t, ColorAugSSD)
    assert (t.brightness_delta, t.contrast_range, t.saturation_range,
            t.hue_delta) == (32, (0.5, 1.5), (0.5, 1.5), 18)


def test_brightness_and_contrast_clip_in_uint8():
    t = ColorAugSSD()
    img = pixel([100.4, 200.0, 240.0])
    # +32: 100 -> 132, 200 -> 232, 240 -> 255 (clipped)
    out = t.apply(img, dict(NONE, brightness=32.0))
    assert out.dtype == np.float32
    assert out.ravel().tolist() == [132, 232, 255]
    # x1.5: 100 -> 150, 200 -> 255, 240 -> 255
    out = t.apply(img, dict(NONE, contrast=1.5))
    assert out.ravel().tolist() == [150, 255, 255]
    # a uint8 image stays uint8
    out = t.apply(pixel([10, 20, 30], np.uint8), dict(NONE, contrast=0.5))
    assert out.dtype == np.uint8 and out.ravel().tolist() == [5, 10, 15]


def test_hue_is_opencv_uint8_hue():
    t = ColorAugSSD()
    red = pixel([0, 0, 255])
    # hue 0 + 60 (of 180) = 120 degrees: pure green
    assert t.apply(red, dict(NONE, hue=60)).ravel().tolist() == [0, 255, 0]
    # -60 wraps to 120 (240 degrees): pure blue
    assert t.apply(red, dict(NONE, hue=-60)).ravel().tolist() == [255, 0, 0]


def test_saturation_scales_hsv_s():
    t = ColorAugSSD()
    red = pixel([0, 0, 255])
    # S 255 -> 0: grey at V = 255
    assert t.apply(red, dict(NONE, saturation=0.0)).ravel().tolist() == \
        [255, 255, 255]
    # S 255 x 0.5 = 127: min channel = 255 * (1 - 127 / 255) = 128
    out = t.apply(red, dict(NONE, saturation=0.5)).ravel()
    assert out.tolist() == pytest.approx([128, 128, 255], abs=1)


def test_contrast_before_or_after_the_hsv_steps():
    t = ColorAugSSD()
    img = pixel([0, 0, 200])
    steps = dict(NONE, contrast=2.0, saturation=0.5)
    # contrast first: 400 -> 255 (clip), then S 255 -> 127 at V 255:
    # min channel 255 * (1 - 127 / 255) = 128
    first = t.apply(img, dict(steps, contrast_first=True)).ravel()
    assert first.tolist() == pytest.approx([128, 128, 255], abs=1)
    # saturation first: min 200 * (1 - 127 / 255) = 100, then x2, R clips
    last = t.apply(img, dict(steps, contrast_first=False)).ravel()
    assert last.tolist() == pytest.approx([200, 200, 255], abs=2)


def test_random_draws_never_swap_channels():
    """R stays the largest channel of an orange pixel under every draw
    (hue 15 degrees +- 36 stays within red's sextants), which a channel
    swap (mmdet's PhotoMetricDistortion, p 0.5) would break."""
    np.random.seed(0)
    t = ColorAugSSD()
    img = np.tile(pixel([10, 70, 240]), (4, 4, 1))
    seen_hue = 0
    for _ in range(300):
        params = t._random_params()
        seen_hue += params['hue'] is not None
        assert params['hue'] is None or -18 <= params['hue'] <= 18
        out = t.apply(img, params)[0, 0]
        assert out[2] >= out[1] and out[2] >= out[0]
    assert 100 < seen_hue < 200  # each step with probability 0.5
