# Copyright (c) s4m-mm authors. All rights reserved.
"""The pixels behind a normalised model input.

mmdet's ``DetDataPreprocessor`` turns ``(B, 3, H, W)`` 0-255 images into the
model input in two steps: an optional channel flip (``bgr_to_rgb`` /
``rgb_to_bgr``) and then, when ``mean`` and ``std`` are set,
``(images - mean) / std``. SAM and the batch augments of S4M work on RGB
0-255 pixels; :func:`denormalize` undoes the two steps and
:func:`normalize` redoes them, the one place both are written.
"""
from typing import Optional

from torch import Tensor, nn


def pixel_options(preprocessor: nn.Module) -> dict:
    """``mean``, ``std`` (``(3, 1, 1)`` buffers, or ``None`` where the
    preprocessor does not normalise) and ``channels_flipped`` (whether it
    flipped the channels of the images it was given) of a
    ``DetDataPreprocessor``; a ``MultiBranchDataPreprocessor`` gives its
    inner one's."""
    pre = getattr(preprocessor, 'data_preprocessor', preprocessor)
    for key in ('_enable_normalize', '_channel_conversion'):
        if not hasattr(pre, key):
            raise TypeError(
                f'{type(pre).__name__} has no {key}: the pixels of a model '
                'input come from an mmengine ImgDataPreprocessor (e.g. '
                'DetDataPreprocessor)')
    normalized = pre._enable_normalize
    return dict(
        mean=pre.mean if normalized else None,
        std=pre.std if normalized else None,
        channels_flipped=pre._channel_conversion)


def denormalize(inputs: Tensor, mean: Optional[Tensor],
                std: Optional[Tensor], channels_flipped: bool) -> Tensor:
    """Normalised model input -> the RGB 0-255 pixels it came from.

    Args:
        inputs (Tensor): ``(B, 3, H, W)`` model input.
        mean (Tensor, optional): ``(3, 1, 1)`` the preprocessor's mean, in
            the channel order of ``inputs``; ``None`` (with ``std``) where
            it does not normalise.
        std (Tensor, optional): ``(3, 1, 1)`` its std.
        channels_flipped (bool): whether the preprocessor flipped the
            channels (``bgr_to_rgb`` on the BGR images of the pipeline, so
            ``inputs`` are RGB); otherwise ``inputs`` are BGR and are
            flipped back here.

    Returns:
        Tensor: ``(B, 3, H, W)`` RGB 0-255, ``inputs``' dtype.
    """
    if (mean is None) != (std is None):
        raise ValueError('denormalize: mean and std must both be given or '
                         f'both be None, got mean={mean!r}, std={std!r}')
    images = inputs if mean is None else inputs * std + mean
    return images if channels_flipped else images.flip(1)


def normalize(images: Tensor, mean: Optional[Tensor], std: Optional[Tensor],
              channels_flipped: bool) -> Tensor:
    """The inverse of :func:`denormalize`: ``(B, 3, H, W)`` RGB 0-255 ->
    model input (same arguments)."""
    if (mean is None) != (std is None):
        raise ValueError('normalize: mean and std must both be given or '
                         f'both be None, got mean={mean!r}, std={std!r}')
    images = images if channels_flipped else images.flip(1)
    return images if mean is None else (images - mean) / std
