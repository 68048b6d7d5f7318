# Copyright (c) s4m-mm authors. All rights reserved.
"""pytest plugin: report tests (setup + call) that draw from a global RNG
(torch, numpy, random) before seeding it in the same test.

Before each test's setup the global generators are put into a fixed state
and seeding calls are recorded; after the call phase, a generator whose
state moved before its first seeding call means an unseeded draw (its
values depended on what earlier tests left behind). Tests that train in a
subprocess are seeded by their config (``randomness.seed``), which this
plugin does not see; their logs say ``seed: 0``.

Usage (a habit, not part of ``make test``)::

    PYTHONPATH=tools/dev python -m pytest -p rng_check tests

and read the ``RNGCHECK`` lines at the end (``RNGCHECK 0 tests ...``).
"""
import random

import numpy as np
import pytest
import torch

REPORT = []
_seeded = set()
_orig = dict(torch=torch.manual_seed, np=np.random.seed, py=random.seed)


_before_seed = {}


def _wrap(kind, fn):
    def wrapped(*args, **kwargs):
        if kind not in _seeded:
            _seeded.add(kind)
            _before_seed[kind] = _states()[kind]
        return fn(*args, **kwargs)
    return wrapped


torch.manual_seed = _wrap('torch', torch.manual_seed)
torch.random.manual_seed = torch.manual_seed
np.random.seed = _wrap('np', np.random.seed)
random.seed = _wrap('py', random.seed)


def _states():
    return dict(torch=torch.get_rng_state().clone(),
                np=np.random.get_state()[1].copy(),
                py=random.getstate())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    _seeded.clear()
    _before_seed.clear()
    _orig['torch'](12345)
    _orig['np'](12345)
    _orig['py'](12345)
    item._rng_start = _states()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    yield
    # a generator drew before it was first seeded in this test (or was
    # never seeded and moved)
    end = _states()
    start = item._rng_start
    unseeded = []
    for kind in ('torch', 'np', 'py'):
        before = _before_seed.get(kind, end[kind])
        a, b = start[kind], before
        same = torch.equal(a, b) if kind == 'torch' else (
            np.array_equal(a, b) if kind == 'np' else a == b)
        if not same:
            unseeded.append(kind)
    if unseeded:
        REPORT.append((item.nodeid, unseeded))


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f'RNGCHECK {len(REPORT)} tests draw from '
                                'an unseeded global generator:')
    for nodeid, kinds in REPORT:
        terminalreporter.write_line(f'RNGCHECK {nodeid}: {kinds}')
