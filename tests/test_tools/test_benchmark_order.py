# Copyright (c) s4m-mm authors. All rights reserved.
"""The order in which benchmark_iteration.py times the refinement paths,
and its paired ratios: what keeps "batched against one image at a time"
from being decided by which path runs first."""
import importlib.util
import os.path as osp
from collections import Counter

import pytest

from s4m_mm.testing import get_repo_root

REPO = get_repo_root()


@pytest.fixture(scope='module')
def bench():
    path = osp.join(REPO, 'tools', 'analysis', 'benchmark_iteration.py')
    spec = importlib.util.spec_from_file_location('benchmark_iteration',
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('names', [['batched', 'per_image'],
                                   ['batched', 'per_image', 'repeated']])
def test_every_path_is_timed_in_every_position_equally(bench, names):
    n = len(names)
    orders = [bench.rotation(names, it) for it in range(3 * n)]
    for order in orders:
        assert sorted(order) == sorted(names)  # each path once a batch
    for position in range(n):
        # over 3 rounds of n batches, each path 3 times in each position
        assert Counter(o[position] for o in orders) == \
            dict.fromkeys(names, 3)
    assert orders[0] == names and orders[1][0] == names[1]


def test_paired_ratio_is_the_median_of_per_batch_ratios(bench):
    per_image = [2.0, 3.0, 10.0]
    batched = [1.0, 3.0, 2.0]
    # ratios 2, 1, 5: median 2; the ratio of medians would be 3 / 2
    assert bench.paired_ratio(per_image, batched) == pytest.approx(2.0)
    assert bench.paired_ratio([1.0, 4.0], [2.0, 2.0]) == pytest.approx(1.25)


def test_several_students_are_compared_side_by_side(bench):
    reports = [
        dict(student='Mask2Former', s4m=dict(step_s=3.0),
             mean_teacher=dict(step_s=2.0), s4m_over_mean_teacher=1.5),
        dict(student='MaskRCNN', s4m=dict(step_s=2.5),
             mean_teacher=dict(step_s=1.25), s4m_over_mean_teacher=2.0)]
    lines = bench.side_by_side(reports).splitlines()
    assert lines[0].split() == ['student', 'S4M', '(s)', 'mean', 'teacher',
                                '(s)', 'S4M', '/', 'mean', 'teacher']
    assert lines[1].split() == ['Mask2Former', '3.000', '2.000', '1.50']
    assert lines[2].split() == ['MaskRCNN', '2.500', '1.250', '2.00']


def test_each_subprocess_times_one_config_with_the_calls_options(
        bench, monkeypatch):
    calls = []

    class Done:
        returncode = 0
        stdout = '{"step_s": 1.0}\n'

    monkeypatch.setattr(bench.sys, 'argv', [
        'benchmark_iteration.py', 'a.py', 'b.py', '--iters', '2'])
    monkeypatch.setattr(bench.subprocess, 'run',
                        lambda cmd, **kw: calls.append(cmd) or Done())
    assert bench.run_in_subprocess('s4m', 'b.py', ['a.py', 'b.py']) == \
        dict(step_s=1.0)
    assert calls[0][2:] == ['b.py', '--iters', '2', '--method', 's4m']
