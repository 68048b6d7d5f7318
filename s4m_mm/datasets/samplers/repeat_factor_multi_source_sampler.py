# Copyright (c) s4m-mm authors. All rights reserved.
"""Stage-2 sampler of S4M: mmdet's multi-source batches, with the labeled
source repeated by category frequency as detectron2's
``RepeatFactorTrainingSampler`` does (the labeled loader of the S4M code,
``train_net.py`` ``setup()``: ``REPEAT_THRESHOLD 10.0``)."""
import itertools
import math
from collections import Counter
from typing import Iterator, List, Optional, Sized, Union

import torch
from mmengine.logging import MMLogger

from mmdet.datasets.samplers import MultiSourceSampler
from mmdet.registry import DATA_SAMPLERS


def repeat_factors_from_category_frequency(dataset: Sized,
                                           repeat_thr: float) -> torch.Tensor:
    """Per-image repeat factors from category frequency (LVIS, App. B.2).

    ``f(c)``: the fraction of images that contain category ``c``;
    ``r(c) = max(1, sqrt(repeat_thr / f(c)))``; an image's factor is the
    largest ``r(c)`` of its categories, 1 for an image without any.

    Args:
        dataset: a dataset with ``get_cat_ids(idx)`` (every mmdet
            ``BaseDetDataset``; crowd instances count, as in detectron2).
        repeat_thr (float): the threshold ``t``.

    Returns:
        Tensor: ``(len(dataset), )`` float32 factors.
    """
    if not hasattr(dataset, 'get_cat_ids'):
        raise TypeError(
            f'repeat factors need the category ids of every image: '
            f'{type(dataset).__name__} has no get_cat_ids(idx)')
    cat_sets = [set(dataset.get_cat_ids(i)) for i in range(len(dataset))]
    if not cat_sets:
        raise ValueError(
            f'{type(dataset).__name__} is empty: no repeat factors to '
            'compute')
    counts = Counter(c for cats in cat_sets for c in cats)
    num_images = len(cat_sets)
    cat_repeat = {
        c: max(1.0, math.sqrt(repeat_thr / (n / num_images)))
        for c, n in counts.items()
    }
    return torch.tensor(
        [max((cat_repeat[c] for c in cats), default=1.0) for cats in cat_sets],
        dtype=torch.float32)


@DATA_SAMPLERS.register_module()
class RepeatFactorMultiSourceSampler(MultiSourceSampler):
    """:class:`MultiSourceSampler` whose ``repeat_source`` is drawn with
    repeat factors, the other sources uniformly.

    Each pass over the repeated source takes every image ``floor(r)``
    times plus once more with probability ``r - floor(r)`` (stochastic
    rounding, fresh draws each pass), then shuffles; the passes follow one
    another without end, and each process takes every ``world_size``-th
    index from ``rank`` on. This is detectron2's
    ``RepeatFactorTrainingSampler``, draw for draw: one seeded generator
    gives the rounding draws and then the permutation of each pass.
    mmengine's ``ClassBalancedDataset`` uses the same factors but rounds
    them up once (``ceil``), which over-weights images with small factors
    (3.16 -> 4 but 31.6 -> 32).

    Args:
        dataset (ConcatDataset): the sources, e.g. labeled and unlabeled.
        batch_size (int): images per batch and process.
        source_ratio (list[int | float]): share of each source in a batch.
        repeat_thr (float): the threshold ``t`` of
            :func:`repeat_factors_from_category_frequency`.
        repeat_source (int): index of the repeated source. Defaults to 0
            (the labeled dataset).
        shuffle (bool): shuffle every pass. Defaults to True.
        seed (int, optional): seed shared by all processes; None draws one
            and synchronises it.
    """

    def __init__(self,
                 dataset: Sized,
                 batch_size: int,
                 source_ratio: List[Union[int, float]],
                 repeat_thr: float,
                 repeat_source: int = 0,
                 shuffle: bool = True,
                 seed: Optional[int] = None) -> None:
        super().__init__(
            dataset=dataset,
            batch_size=batch_size,
            source_ratio=source_ratio,
            shuffle=shuffle,
            seed=seed)
        if not repeat_thr > 0:
            raise ValueError(f'repeat_thr must be > 0, got {repeat_thr!r}')
        num_sources = len(dataset.datasets)
        if not 0 <= repeat_source < num_sources:
            raise ValueError(
                f'repeat_source={repeat_source} is not a source of the '
                f'ConcatDataset ({num_sources} datasets)')
        self.repeat_thr = float(repeat_thr)
        self.repeat_source = repeat_source
        source = dataset.datasets[repeat_source]
        self.repeat_factors = repeat_factors_from_category_frequency(
            source, self.repeat_thr)
        self.source2inds[repeat_source] = itertools.islice(
            self._repeat_indices(self.repeat_factors), self.rank, None,
            self.world_size)
        factors = self.repeat_factors
        MMLogger.get_current_instance().info(
            f'{type(self).__name__}: source {repeat_source} '
            f'({type(source).__name__}, {len(factors)} images) repeat '
            f'factors (t={self.repeat_thr:g}) min {factors.min():.3f}, '
            f'mean {factors.mean():.3f}, max {factors.max():.3f}; '
            f'{factors.sum():.1f} images per pass in expectation')

    def _repeat_indices(self, factors: torch.Tensor) -> Iterator[int]:
        """Endless passes over ``len(factors)`` indices with stochastic
        rounding of the factors, each pass shuffled."""
        g = torch.Generator()
        g.manual_seed(self.seed)
        int_part = torch.trunc(factors)
        frac_part = factors - int_part
        index = torch.arange(len(factors))
        while True:
            rands = torch.rand(len(frac_part), generator=g)
            repeats = (int_part + (rands < frac_part).float()).long()
            indices = torch.repeat_interleave(index, repeats)
            if self.shuffle:
                indices = indices[torch.randperm(len(indices), generator=g)]
            yield from indices.tolist()
