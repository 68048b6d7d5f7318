# Copyright (c) s4m-mm authors. All rights reserved.
"""A student run killed with SIGKILL after the burn-in switch and resumed
with ``--resume`` ends exactly like an uninterrupted run (RNGStateHook),
also when it validates at its checkpoints and stops early
(ResumableEarlyStoppingHook), whatever the student (Mask2Former, Mask
R-CNN, RTMDet-Ins)."""
import glob
import json
import os
import os.path as osp
import random
import signal
import subprocess
import sys
import time
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
import torch
from torch import nn

from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from s4m_mm.engine.hooks import RNGStateHook
from s4m_mm.engine.hooks.rng_state_hook import (CHECKPOINT_KEY,
                                                _RestoreAfterSkip,
                                                get_rng_states,
                                                module_generators,
                                                set_rng_states,
                                                validated_after)
from s4m_mm.utils.checkpoint_compat import unknown_globals

HERE = osp.dirname(osp.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
from small_student import small_student_config, write_semi_data  # noqa

ITERS = 6
BURN_IN = 2
KILL_AFTER = 4  # the checkpoint after which the second run is killed
#: validation at every checkpoint (as the paper configs do); early stopping
#: with a min_delta no score can reach and a patience of 2 stops both runs
#: after the validation at ITERS, before MAX_ITERS
VAL_INTERVAL = 2
MAX_ITERS = ITERS + 2


class WithGenerator(nn.Module):

    def __init__(self):
        super().__init__()
        self.mix = nn.Module()
        self.mix.generator = torch.Generator().manual_seed(3)


def draws(generators):
    return (torch.rand(3).tolist(), np.random.rand(3).tolist(),
            random.random(), {
                name: torch.rand(2, generator=g).tolist()
                for name, g in generators.items()
            })


def test_rng_states_round_trip_through_a_checkpoint(tmp_path):
    generators = module_generators(WithGenerator())
    assert list(generators) == ['mix.generator']
    states = get_rng_states(generators)
    expected = draws(generators)
    path = str(tmp_path / 'ckpt.pth')
    torch.save({CHECKPOINT_KEY: [states]}, path)
    # checkpoint_compat's weights-only policy accepts the states
    assert unknown_globals(path) == []
    loaded = torch.load(path, weights_only=False)[CHECKPOINT_KEY][0]
    assert set_rng_states(loaded, generators) == []
    assert draws(generators) == expected


def test_mismatched_generators_are_reported():
    states = get_rng_states(module_generators(WithGenerator()))
    problems = set_rng_states(states, {'other.generator': torch.Generator()})
    assert "no state of the module generator 'other.generator'" in \
        problems[0]
    assert "no module generator 'mix.generator'" in problems[1]


def test_states_are_restored_after_the_replayed_batches():
    """IterBasedTrainLoop replays ``iter`` batches after before_train; the
    states must come back between the replay and the first new batch."""
    iterator = iter(range(10))
    loop = SimpleNamespace(dataloader_iterator=iterator)
    taken = []
    wrapper = _RestoreAfterSkip(loop, 3, lambda: taken.append('restore'))
    loop.dataloader_iterator = wrapper
    for _ in range(5):
        taken.append(next(loop.dataloader_iterator))
    assert taken == [0, 1, 2, 'restore', 3, 4]
    assert loop.dataloader_iterator is iterator


def fake_runner(iteration):
    return SimpleNamespace(
        model=WithGenerator(), iter=iteration, epoch=0, logger=mock.Mock(),
        train_loop=SimpleNamespace(), val_loop=None)


def test_load_from_does_not_restore_and_old_checkpoints_warn():
    hook = RNGStateHook()
    # load_from (fine-tuning): the loop stays at iteration 0
    runner = fake_runner(0)
    hook.after_load_checkpoint(runner, {'meta': {'iter': 250, 'epoch': 0}})
    hook.before_train(runner)
    runner.logger.warning.assert_not_called()
    runner.logger.info.assert_not_called()
    # resuming a checkpoint saved without the hook (non-iteration loop:
    # restored at once)
    runner = fake_runner(250)
    hook.after_load_checkpoint(runner, {'meta': {'iter': 250, 'epoch': 0}})
    hook.before_train(runner)
    message = runner.logger.warning.call_args[0][0]
    assert 'iteration 250' in message and '`rng_states`' in message
    # states of 2 processes, resumed by 1
    runner = fake_runner(250)
    states = get_rng_states({})
    hook.after_load_checkpoint(runner, {
        'meta': {'iter': 250, 'epoch': 0},
        CHECKPOINT_KEY: [states, states]
    })
    hook.before_train(runner)
    assert 'states of 2 processes, this run has 1' in \
        runner.logger.warning.call_args[0][0]


# ---------------------------------------------------------------- end to end


@pytest.fixture(scope='module',
                params=['mask2former', 'mask_rcnn', 'rtmdet_ins'])
def student_config(request, tmp_path_factory, repo_root):
    """The small student of a kind with burn-in 2 and ARP on its own
    generator."""
    out = str(tmp_path_factory.mktemp(f'resume_{request.param}'))
    data = osp.join(out, 'data')
    write_semi_data(data)
    return small_student_config(repo_root, data, out, burn_in=BURN_IN,
                                kind=request.param)


def train_args(config, work, max_iters, resume=False):
    return [
        sys.executable, 'tools/train.py', config, '--work-dir', work
    ] + (['--resume'] if resume else []) + [
        '--cfg-options', f'train_cfg.max_iters={max_iters}',
        f'train_cfg.val_interval={VAL_INTERVAL}',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.checkpoint.max_keep_ckpts=10',
        'default_hooks.early_stopping.type=ResumableEarlyStoppingHook',
        'default_hooks.early_stopping.monitor=coco/segm_mAP',
        'default_hooks.early_stopping.rule=greater',
        'default_hooks.early_stopping.min_delta=2.0',
        'default_hooks.early_stopping.patience=2',
        'model.unsup_batch_augments.arp.generator_seed=7'
    ]


def env():
    # one thread: the same kernels in every run, and no slowdown from
    # OpenMP spinning on a shared 2-core machine
    return dict(os.environ, OMP_NUM_THREADS='1')


def train(args, cwd):
    result = subprocess.run(args, cwd=cwd, env=env(), capture_output=True,
                            text=True)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    return log


def last_checkpoint(work):
    try:
        with open(osp.join(work, 'last_checkpoint')) as f:
            return osp.basename(f.read().strip())
    except FileNotFoundError:
        return None


def train_and_sigkill(args, cwd, work, after):
    """Start training and SIGKILL it once ``iter_<after>.pth`` is the last
    checkpoint (the process is then inside iteration ``after + 1``)."""
    proc = subprocess.Popen(args, cwd=cwd, env=env(),
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while last_checkpoint(work) != f'iter_{after}.pth':
            assert proc.poll() is None, \
                f'training exited ({proc.returncode}) before iter_{after}'
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


def val_metrics(work):
    """The ``coco/*`` metrics of the last validation in the work dir."""
    records = []
    for path in sorted(glob.glob(osp.join(work, '*/vis_data/scalars.json'))):
        with open(path) as f:
            records += [json.loads(line) for line in f]
    last = [r for r in records if 'coco/segm_mAP' in r][-1]
    return {k: v for k, v in last.items() if k.startswith('coco/')}


def train_scalars(checkpoint):
    """Per-iteration history of every loss in the message hub."""
    scalars = checkpoint['message_hub']['log_scalars']
    return {
        key: buffer._log_history.tolist()
        for key, buffer in scalars.items() if 'loss' in key
    }


def assert_same_tensors(a, b, what):
    assert set(a) == set(b), what
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f'{len(differ)} {what} differ, e.g. {differ[:3]}'


def flatten(tree, prefix=''):
    """Leaves of nested dicts / lists / tuples, by path."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, (list, tuple)):
        items = enumerate(tree)
    else:
        return {prefix: tree}
    leaves = {}
    for key, value in items:
        leaves.update(flatten(value, f'{prefix}.{key}'))
    return leaves


def assert_same_leaves(a, b, what):
    a, b = flatten(a), flatten(b)
    assert set(a) == set(b), what
    for key in a:
        same = torch.equal(a[key], b[key]) if isinstance(
            a[key], torch.Tensor) else a[key] == b[key]
        assert same, f'{what}: {key} differs'


@pytest.mark.slow
def test_sigkill_after_burn_in_then_resume_matches_uninterrupted_run(
        student_config, tmp_path, repo_root):
    full = str(tmp_path / 'full')
    train(train_args(student_config, full, MAX_ITERS), repo_root)
    # validated at 2 (best), 4 and 6 (no rise of 2.0): stopped after 6
    assert osp.isfile(osp.join(full, f'iter_{ITERS}.pth'))
    assert not osp.exists(osp.join(full, f'iter_{MAX_ITERS}.pth'))

    # The interrupted run: max_iters only says where the loop stops (the
    # learning-rate schedule is the config's param_scheduler), so a long
    # one gives the same checkpoints while making sure the process is
    # still training when it is killed.
    work = str(tmp_path / 'interrupted')
    train_and_sigkill(
        train_args(student_config, work, 1000), repo_root, work,
        after=KILL_AFTER)
    assert not osp.exists(osp.join(work, f'iter_{ITERS}.pth'))
    log = train(
        train_args(student_config, work, MAX_ITERS, resume=True), repo_root)
    assert f'resumed epoch: 0, iter: {KILL_AFTER}' in log
    assert f'RNGStateHook: restored the random states of iteration ' \
        f'{KILL_AFTER}' in log
    # the checkpoint was saved before the validation at KILL_AFTER: it is
    # done again, from the restored states, and the patience goes on from
    # the validation at 2
    assert f'RNGStateHook: validating iteration {KILL_AFTER}' in log
    assert 'ResumableEarlyStoppingHook: restored at iteration ' \
        f'{KILL_AFTER}, epoch 0' in log and '0 of 2 evaluations' in log
    assert not osp.exists(osp.join(work, f'iter_{MAX_ITERS}.pth'))
    assert 'unsup_batch_augments.arp.generator' in log
    assert 'teacher loaded from' not in log  # kept from the checkpoint

    expected, resumed = (torch.load(
        osp.join(w, f'iter_{ITERS}.pth'), map_location='cpu',
        weights_only=False) for w in (full, work))
    assert resumed['meta']['iter'] == expected['meta']['iter'] == ITERS
    state = resumed['state_dict']
    assert any(k.startswith('teacher.') for k in state)
    assert any(k.startswith('student.') for k in state)
    assert_same_tensors(expected['state_dict'], state, 'model tensors')
    # the burn-in switch happened: the teacher is no longer the stage-1
    # checkpoint
    stage1 = torch.load(
        osp.join(osp.dirname(student_config), 'teacher.pth'),
        map_location='cpu')['state_dict']
    assert any(not torch.equal(v, state['teacher.' + k])
               for k, v in stage1.items())
    assert_same_leaves(expected['optimizer'], resumed['optimizer'],
                       'optimizer state')
    assert_same_leaves(expected[CHECKPOINT_KEY], resumed[CHECKPOINT_KEY],
                       'random generator states')
    losses = train_scalars(resumed)
    assert len(losses['train/loss']) == ITERS
    assert losses == train_scalars(expected)
    assert val_metrics(work) == val_metrics(full)


def loop_at(cls, done, total, interval, begin=1, dynamic=None):
    """A train loop of ``cls`` (built without a runner) that has done
    ``done`` of ``total`` iterations or epochs; ``dynamic``: mmengine's
    ``dynamic_intervals`` [(milestone, interval)]."""
    loop = cls.__new__(cls)
    by_iter = cls is IterBasedTrainLoop
    loop._iter, loop._epoch = (done, 0) if by_iter else (0, done)
    loop._max_iters = loop._max_epochs = total
    loop.val_interval, loop.val_begin = interval, begin
    loop.dynamic_milestones = [0] + [m for m, _ in dynamic or []]
    loop.dynamic_intervals = [interval] + [i for _, i in dynamic or []]
    return loop


@pytest.mark.parametrize('cls', [IterBasedTrainLoop, EpochBasedTrainLoop])
def test_validated_after_follows_the_loops_validation_rule(cls):
    """The loops validate after ``n`` done when ``n >= val_begin`` and
    ``n % val_interval == 0``; a finished run does not train on."""

    def validated(done, total=100, interval=50, begin=1, val_loop=object(),
                  dynamic=None):
        loop = loop_at(cls, done, total, interval, begin, dynamic)
        runner = SimpleNamespace(
            train_loop=loop, val_loop=val_loop,
            iter=loop._iter, epoch=loop._epoch)
        return validated_after(runner)

    assert validated(50)
    assert not validated(40)
    assert not validated(100)  # finished
    assert not validated(50, val_loop=None)
    assert not validated(50, begin=60)
    assert validated(60, begin=60, interval=20)
    # after milestone 55 the loop validates every 10
    assert validated(70, dynamic=[(55, 10)])
    assert not validated(70)
