# Copyright (c) s4m-mm authors. All rights reserved.
"""The demo student (S4M stage 2) under tools/dist_train.sh with 2 CPU
processes: teacher and student identical in both, one SAM per process
outside DDP, ARP's batch check on the per-process batch
(ReplicaCheckHook)."""
import copy
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from torch import nn

from s4m_mm.engine.hooks import ReplicaCheckHook
from s4m_mm.engine.hooks.replica_check_hook import (mismatched_tensors,
                                                    shared_parameters,
                                                    state_digests,
                                                    unregistered_modules)
from s4m_mm.testing import get_repo_root
from s4m_mm.utils import tensor_digest

HERE = osp.dirname(osp.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
from small_student import small_student_config, write_semi_data  # noqa

ITERS = 3


def test_digests_name_the_tensors_and_ranks_that_differ():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    same = state_digests(model)
    assert set(same) == {'0.weight', '0.bias', '1.weight', '1.bias'}
    assert set(state_digests(model, buffers=True)) > set(same)
    other = copy.deepcopy(model)
    with torch.no_grad():
        bias = other[0].bias
        bias[1] = torch.nextafter(bias[1], bias[1] + 1)  # one ulp
    assert tensor_digest(model[0].bias) != tensor_digest(other[0].bias)
    digests = [same, same, state_digests(other)]
    assert mismatched_tensors(digests[:2]) == []
    assert mismatched_tensors(digests) == [
        '0.bias (ranks [2] differ from rank 0)'
    ]
    assert mismatched_tensors([same, {}]) == [
        f'{name} (ranks [1] differ from rank 0)' for name in sorted(same)
    ]
    with pytest.raises(KeyError, match="names 'teacher', which Sequential"):
        state_digests(model, modules=('teacher', ))
    with pytest.raises(ValueError, match='interval must be a positive int'):
        ReplicaCheckHook(interval=0)


def test_sam_found_once_and_outside_the_module_parameters(tiny_sam):
    adapter = tiny_sam
    model = nn.Module()
    model.student = nn.Module()
    model.student.refiner = adapter
    model.teacher = copy.deepcopy(model.student)  # shares the frozen SAM
    assert unregistered_modules(model) == [adapter.sam]
    assert shared_parameters(model, unregistered_modules(model)) == 0
    # any module held as a plain attribute is found, not only SAM
    other = nn.Linear(2, 2)
    object.__setattr__(model.student, 'side', other)
    assert {id(m) for m in unregistered_modules(model)} == {
        id(adapter.sam), id(other)}
    # a SAM registered as a submodule would be reached by DDP
    model.leaked = adapter.sam
    assert shared_parameters(model, [adapter.sam]) == len(
        list(adapter.sam.parameters()))


def test_replica_check_is_opt_in_in_the_student_configs(repo_root):
    for name in ('demo/s4m-student_effl0_nuclei.py',
                 'coco/s4m-student_r50_4xb6-368750iter_coco-1pct.py'):
        cfg = Config.fromfile(osp.join(repo_root, 'configs/s4m', name))
        hooks = list(cfg.get('custom_hooks', [])) + [
            hook for hook in cfg.default_hooks.values() if hook is not None]
        assert 'ReplicaCheckHook' not in [hook.type for hook in hooks]


# ---------------------------------------------------------------- end to end


@pytest.fixture(scope='module')
def dist_config(tmp_path_factory, repo_root):
    """The small student with the replica check at every iteration."""
    out = str(tmp_path_factory.mktemp('dist'))
    data = osp.join(out, 'data')
    write_semi_data(data)
    path = small_student_config(repo_root, data, out, burn_in=1)
    cfg = Config.fromfile(path)
    # opt-in, as the student runtime's comment says
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='ReplicaCheckHook', interval=1,
             modules=('teacher', 'student'), external_digests=True)]
    cfg.dump(path)
    return path


def dist_train(config, work, port, *options):
    env = dict(os.environ,
               PATH=osp.dirname(sys.executable) + os.pathsep +
               os.environ.get('PATH', ''),
               PORT=str(port))
    return subprocess.run(
        ['bash', 'tools/dist_train.sh', config, '2', '--work-dir', work,
         '--cfg-options', f'train_cfg.max_iters={ITERS}',
         f'train_cfg.val_interval={ITERS}',
         f'default_hooks.checkpoint.interval={ITERS}'] + list(options),
        cwd=get_repo_root(), capture_output=True, text=True,
        env=env)


@pytest.mark.slow
def test_two_processes_keep_identical_teacher_and_student(
        dist_config, tmp_path, free_port):
    work = str(tmp_path / 'dist')
    result = dist_train(dist_config, work, free_port)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert 'Distributed training: True' in log
    assert 'burn-in over after 1 iterations' in log
    assert 'unsup_loss_mask' in log  # ARP ran on 3 unlabeled images a rank
    # one SAM per process, none of its parameters under DDP
    for rank in (0, 1):
        assert log.count(f'ReplicaCheckHook: rank {rank} holds 1 '
                         'module(s) outside the module tree') == 1
    assert 'not parameters of the DDP-wrapped model' in log
    # teacher and student identical in both processes: before training,
    # after every iteration (burn-in copy, then EMA) and at the end
    for when in ['before training'] + [
            f'iteration {i}' for i in range(1, ITERS + 1)
    ] + ['after training']:
        assert f'ReplicaCheckHook: {when}, ' in log, when
    assert log.count('are identical in 2 processes') == ITERS + 2
    assert osp.isfile(osp.join(work, f'iter_{ITERS}.pth'))


@pytest.mark.slow
def test_arp_checks_the_unlabeled_batch_of_each_process(
        dist_config, tmp_path, free_port):
    """4 images a process (2 labeled + 2 unlabeled): 4 unlabeled images in
    all, but ARP pairs images within one process and must refuse 2."""
    result = dist_train(dist_config, str(tmp_path / 'small_batch'), free_port,
                        'train_dataloader.batch_size=4',
                        'train_dataloader.sampler.batch_size=4')
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'needs more than 2 of them per GPU' in log
    assert 'the unlabeled batch per GPU' in log and ') is 2.' in log
