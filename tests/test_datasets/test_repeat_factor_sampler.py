# Copyright (c) s4m-mm authors. All rights reserved.
"""RepeatFactorMultiSourceSampler: detectron2's repeat factors and
stochastic rounding on the labeled source of mmdet's multi-source batches.

Expected factors are computed by hand for a 10-image toy dataset:
``f(c)`` = images with c / 10, ``r(c) = max(1, sqrt(t / f(c)))``, an
image's factor the largest of its categories (1 without any)."""
import itertools
from collections import Counter
from unittest import mock

import pytest
import torch
from torch.utils.data import ConcatDataset, Dataset

from s4m_mm.datasets import (RepeatFactorMultiSourceSampler,
                             repeat_factors_from_category_frequency)

#: categories of each labeled image; cat 0 in 2 images (f 0.2), cat 1 in
#: 4 (f 0.4), cat 2 in 5 (f 0.5); image 9 has no annotation
CATS = [[0, 1], [0], [1, 1], [1], [1, 2], [2], [2], [2], [2], []]
#: t = 10 (the paper's): sqrt(10 / 0.2), sqrt(10 / 0.4), sqrt(10 / 0.5)
FACTORS_T10 = [7.0710678, 7.0710678, 5.0, 5.0, 5.0, 4.4721360, 4.4721360,
               4.4721360, 4.4721360, 1.0]
#: t = 0.5: sqrt(2.5), sqrt(1.25), max(1, sqrt(1.0))
FACTORS_T05 = [1.5811388, 1.5811388, 1.1180340, 1.1180340, 1.1180340, 1.0,
               1.0, 1.0, 1.0, 1.0]
NUM_UNLABELED = 7


class Toy(Dataset):

    def __init__(self, cats):
        self.cats = cats

    def __len__(self):
        return len(self.cats)

    def __getitem__(self, idx):
        return idx

    def get_cat_ids(self, idx):
        return self.cats[idx]


def sources():
    return ConcatDataset([Toy(CATS), Toy([[]] * NUM_UNLABELED)])


def sampler(repeat_thr, batch_size=2, seed=0, **kwargs):
    return RepeatFactorMultiSourceSampler(
        sources(), batch_size=batch_size, source_ratio=[1, 1],
        repeat_thr=repeat_thr, seed=seed, **kwargs)


def labeled_stream(s, n):
    """The first ``n`` labeled indices of a batch-2, ratio 1:1 sampler."""
    return list(itertools.islice(iter(s), 0, 2 * n, 2))


@pytest.mark.parametrize('thr,expected', [(10.0, FACTORS_T10),
                                          (0.5, FACTORS_T05)])
def test_factor_table(thr, expected):
    factors = repeat_factors_from_category_frequency(Toy(CATS), thr)
    assert factors.dtype == torch.float32
    assert factors.tolist() == pytest.approx(expected, abs=1e-6)


def test_mean_repeats_follow_the_factors_not_their_ceiling():
    passes = 3000
    s = sampler(0.5)
    stream = labeled_stream(s, int(passes * sum(FACTORS_T05)))
    counts = Counter(stream)
    mean = [counts[i] / passes for i in range(len(CATS))]
    # 4 standard deviations of a Bernoulli(0.58) mean over 3000 passes
    assert mean == pytest.approx(FACTORS_T05, abs=0.04)
    # ceil would give images 0 and 1 two copies a pass, 2-4 two as well
    assert mean[0] < 1.7 and mean[2] < 1.25


def test_draws_are_detectron2s():
    """One generator seeded once: per pass ``rand`` for the rounding, then
    ``randperm`` of the repeated list (detectron2's
    RepeatFactorTrainingSampler._infinite_indices)."""
    factors = torch.tensor(FACTORS_T10)
    g = torch.Generator()
    g.manual_seed(5)
    expected = []
    for _ in range(3):
        rands = torch.rand(len(factors), generator=g)
        epoch = []
        for i, f in enumerate(factors.tolist()):
            copies = int(f) + int(rands[i].item() < f - int(f))
            epoch += [i] * copies
        perm = torch.randperm(len(epoch), generator=g)
        expected += [epoch[j] for j in perm.tolist()]
    got = labeled_stream(sampler(10.0, seed=5), len(expected))
    assert got == expected


def test_batches_mix_the_sources_and_unlabeled_is_uniform():
    s = sampler(10.0, batch_size=6)
    indices = list(itertools.islice(iter(s), 6 * 70))
    for b in range(70):
        batch = indices[6 * b:6 * b + 6]
        assert all(0 <= i < len(CATS) for i in batch[:3])
        assert all(len(CATS) <= i < len(CATS) + NUM_UNLABELED
                   for i in batch[3:])
    unlabeled = [i for b in range(70) for i in indices[6 * b + 3:6 * b + 6]]
    for p in range(len(unlabeled) // NUM_UNLABELED):
        one_pass = unlabeled[p * NUM_UNLABELED:(p + 1) * NUM_UNLABELED]
        assert sorted(one_pass) == list(
            range(len(CATS), len(CATS) + NUM_UNLABELED))


def test_seeded_and_sliced_by_rank():
    n = 200
    single = labeled_stream(sampler(10.0, seed=3), 2 * n)
    assert single == labeled_stream(sampler(10.0, seed=3), 2 * n)
    assert single != labeled_stream(sampler(10.0, seed=4), 2 * n)
    target = 'mmdet.datasets.samplers.multi_source_sampler.get_dist_info'
    per_rank = []
    for rank in range(2):
        with mock.patch(target, return_value=(rank, 2)):
            per_rank.append(labeled_stream(sampler(10.0, seed=3), n))
    assert per_rank[0] == single[0::2][:n]
    assert per_rank[1] == single[1::2][:n]


def test_bad_arguments_name_the_fault():
    with pytest.raises(ValueError, match='repeat_thr must be > 0'):
        sampler(0.0)
    with pytest.raises(ValueError, match='repeat_source=2 is not a source'):
        sampler(10.0, repeat_source=2)

    class NoCats(Dataset):

        def __len__(self):
            return 3

    with pytest.raises(TypeError, match='NoCats has no get_cat_ids'):
        RepeatFactorMultiSourceSampler(
            ConcatDataset([NoCats(), Toy([[]])]), batch_size=2,
            source_ratio=[1, 1], repeat_thr=10.0)
