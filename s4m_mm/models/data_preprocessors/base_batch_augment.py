# Copyright (c) s4m-mm authors. All rights reserved.
"""What S4M's unlabeled batch augments share: the call convention, the
checks of the batch layout, the valid area of an image and seeded draws.

An augment is called like mmdet's batch augments,
``inputs, data_samples = augment(inputs, data_samples)``, on the batch
input before normalisation: ``inputs`` is a ``(B, 3, H, W)`` float tensor
in the 0-255 range (padded), ``data_samples`` its ``B`` samples.
"""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from mmdet.structures import DetDataSample


def check_range(name: str, value: Sequence[float], low: float,
                low_inclusive: bool) -> Tuple[float, float]:
    """Check that ``value`` is an increasing pair above ``low``.

    Raises:
        ValueError: naming ``name`` and ``value``.
    """
    if (not isinstance(value, Sequence) or len(value) != 2
            or not value[0] <= value[1]
            or (value[0] < low if low_inclusive else value[0] <= low)):
        bound = f'{low} <=' if low_inclusive else f'{low} <'
        raise ValueError(f'{name} must be a pair (lo, hi) with {bound} lo '
                         f'<= hi, got {name}={value!r}')
    return float(value[0]), float(value[1])


def check_probability(name: str, value: float) -> float:
    """Check that ``value`` is in ``[0, 1]``.

    Raises:
        ValueError: naming ``name`` and ``value``.
    """
    if not 0.0 <= value <= 1.0:
        raise ValueError(f'{name} must be in [0, 1], got {name}={value!r}')
    return float(value)


def valid_hw(data_sample: DetDataSample, height: int,
             width: int) -> Tuple[int, int]:
    """The image's unpadded ``(h, w)``: ``img_shape`` when known, clipped
    to the batch input of ``height x width``, else the batch input's."""
    img_shape = data_sample.metainfo.get('img_shape')
    if img_shape is None:
        return height, width
    return min(int(img_shape[0]), height), min(int(img_shape[1]), width)


class BaseBatchAugment(nn.Module):
    """Base of the unlabeled batch augments: checks and random draws.

    Args:
        generator_seed (int, optional): seed of a CPU ``torch.Generator``
            that this augment alone draws from (it advances from call to
            call), which makes its output reproducible; every process given
            the same seed draws the same values. ``None`` draws from
            torch's global generator (seeded by MMEngine's ``randomness``
            config).
    """

    def __init__(self, generator_seed: Optional[int] = None) -> None:
        super().__init__()
        self.generator_seed = generator_seed
        self.generator = None
        if generator_seed is not None:
            self.generator = torch.Generator().manual_seed(int(generator_seed))

    # ----------------------------------------------------------- checks

    def check_layout(self, inputs: Tensor,
                     data_samples: List[DetDataSample]) -> None:
        """Check that ``inputs`` is a ``(B, 3, H, W)`` float batch with
        ``B`` samples.

        Raises:
            ValueError: naming the class and the value at fault.
        """
        name = type(self).__name__
        if inputs.dim() != 4 or inputs.shape[1] != 3:
            raise ValueError(f'{name}: inputs must be a (B, 3, H, W) tensor, '
                             f'got inputs.shape={tuple(inputs.shape)}')
        if not inputs.is_floating_point():
            raise ValueError(f'{name}: inputs must be a float tensor (0-255, '
                             'before normalisation), got inputs.dtype='
                             f'{inputs.dtype}')
        if data_samples is None or len(data_samples) != inputs.shape[0]:
            num = None if data_samples is None else len(data_samples)
            raise ValueError(f'{name}: len(data_samples)={num} must equal '
                             'the batch size inputs.shape[0]='
                             f'{inputs.shape[0]}')

    # ----------------------------------------------------- random draws

    def _rand(self) -> float:
        """A uniform float in ``[0, 1)``."""
        return float(torch.rand((), generator=self.generator))

    def _uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self._rand()

    def _bernoulli(self, prob: float) -> bool:
        return self._rand() < prob

    def _randint(self, high: int) -> int:
        """A uniform integer in ``[0, high)``."""
        return int(torch.randint(high, (), generator=self.generator))

    def _randperm(self, num: int) -> List[int]:
        return torch.randperm(num, generator=self.generator).tolist()
