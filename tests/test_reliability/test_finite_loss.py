# Copyright (c) s4m-mm authors. All rights reserved.
"""FiniteLossHook: a NaN / inf loss stops training before the weights it
poisoned are saved."""
import glob
import os
import os.path as osp
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.runner import get_priority

from s4m_mm.engine.hooks import FiniteLossHook
from s4m_mm.engine.hooks.finite_loss_hook import NonFiniteLossError
from s4m_mm.testing import write_synthetic_coco

DEMO = 'configs/s4m/demo/mask2former_effl0_nuclei_sup.py'
HERE = osp.dirname(osp.abspath(__file__))


def fake_runner(it, last_ckpt=None):
    hub = MessageHub.get_instance('test_finite_loss')
    hub.update_info('last_ckpt', last_ckpt)
    return SimpleNamespace(iter=it, message_hub=hub)


def test_finite_losses_pass():
    outputs = dict(loss=torch.tensor(1.5), sup_loss_mask=torch.tensor(0.5),
                   unsup_loss_dice=torch.tensor(1.0), acc=float('nan'))
    # a NaN that is not a loss (acc) and no outputs at all pass
    FiniteLossHook().after_train_iter(fake_runner(0), 0, None, outputs)
    FiniteLossHook().after_train_iter(fake_runner(0), 0, None, None)
    # the same outputs with one loss not finite do not
    for bad in (float('nan'), float('inf')):
        with pytest.raises(NonFiniteLossError, match='unsup_loss_dice'):
            FiniteLossHook().after_train_iter(
                fake_runner(0), 0, None,
                dict(outputs, unsup_loss_dice=torch.tensor(bad)))


def test_non_finite_loss_names_iteration_losses_and_checkpoint():
    outputs = dict(
        loss=torch.tensor(float('nan')),
        sup_loss_mask=torch.tensor(0.5),
        unsup_loss_mask=torch.tensor(float('nan')),
        unsup_loss_dice=torch.tensor(float('-inf')))
    with pytest.raises(NonFiniteLossError) as err:
        FiniteLossHook().after_train_iter(
            fake_runner(6, 'work/iter_5.pth'), 6, None, outputs)
    msg = str(err.value)
    assert 'non-finite loss at iteration 7: loss=nan, ' \
        'unsup_loss_mask=nan, unsup_loss_dice=-inf.' in msg
    assert 'sup_loss_mask' not in msg.replace('unsup_loss_mask', '')
    assert 'the last checkpoint, work/iter_5.pth, was saved' in msg
    with pytest.raises(NonFiniteLossError, match='no checkpoint was saved'):
        FiniteLossHook().after_train_iter(fake_runner(0), 0, None, outputs)


def _rank_verdicts(rank, init_file, out_dir):
    """Worker of a 2-process gloo group: only rank 1 has a NaN loss, at the
    second iteration; records what the hook raised on this rank."""
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=2)
    verdicts = []
    for it in range(2):
        value = float('nan') if it == 1 and rank == 1 else 1.0
        try:
            FiniteLossHook().after_train_iter(
                fake_runner(it), it, None,
                dict(loss_mask=torch.tensor(value)))
            verdicts.append(None)
        except NonFiniteLossError as e:
            verdicts.append(str(e))
    torch.save(verdicts, osp.join(out_dir, f'rank{rank}.pth'))
    dist.destroy_process_group()


def test_every_rank_stops_when_one_rank_has_a_nan(tmp_path):
    # fork: the workers need no new imports of torch and mmdet
    torch.multiprocessing.start_processes(
        _rank_verdicts, args=(str(tmp_path / 'init'), str(tmp_path)),
        nprocs=2, start_method='fork')
    for rank in (0, 1):
        first, second = torch.load(tmp_path / f'rank{rank}.pth')
        assert first is None
        assert second.startswith(
            'non-finite loss at iteration 2: rank 1: loss_mask=nan.')


def test_runs_before_checkpoint_and_teacher_hooks():
    assert get_priority(FiniteLossHook.priority) < get_priority('VERY_LOW')
    # before TeacherScheduleHook's EMA
    assert get_priority(FiniteLossHook.priority) < get_priority(
        'ABOVE_NORMAL')


def test_every_s4m_config_enables_it(repo_root):
    paths = [
        p for p in glob.glob(osp.join(repo_root, 'configs/s4m/**/*.py'),
                             recursive=True)
        if '/_base_/' not in p
        # settings for the custom template, not a config to train
        and not osp.basename(p).startswith('custom_settings')
    ]
    assert len(paths) > 3
    for path in paths:
        cfg = Config.fromfile(path)
        assert cfg.default_hooks.finite_loss == dict(
            type='FiniteLossHook'), path


@pytest.fixture
def nuclei_root(tmp_path):
    root = str(tmp_path / 'nuclei')
    write_synthetic_coco(root, ann_name='labeled.json', num_images=4,
                         classes=('nucleus', ), seed=1)
    return root


@pytest.mark.slow
def test_nan_loss_stops_training_and_keeps_the_last_checkpoint(
        nuclei_root, tmp_path, repo_root):
    config = str(tmp_path / 'nan_at_iter_2.py')
    with open(config, 'w') as f:
        f.write(f"_base_ = '{osp.join(repo_root, DEMO)}'\n"
                "custom_imports = dict(imports=['s4m_mm', 'nan_loss_model'],"
                " allow_failed_imports=False)\n"
                "model = dict(type='NaNLossMask2Former', nan_iter=2, "
                "nan_losses=['loss_mask', 'd1.loss_dice'])\n")
    work = str(tmp_path / 'work')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (HERE, os.environ.get('PYTHONPATH')) if p))
    result = subprocess.run(
        [sys.executable, 'tools/train.py', config, '--work-dir', work,
         '--cfg-options', f'train_dataloader.dataset.data_root={nuclei_root}/',
         f'val_dataloader.dataset.data_root={nuclei_root}/',
         'val_dataloader.dataset.ann_file=annotations/labeled.json',
         f'val_evaluator.ann_file={nuclei_root}/annotations/labeled.json',
         'model.backbone.checkpoint=None', 'train_dataloader.batch_size=1',
         'train_cfg.max_iters=2', 'train_cfg.val_interval=100',
         'default_hooks.checkpoint.interval=1',
         'default_hooks.logger.interval=1'],
        cwd=repo_root, capture_output=True, text=True, env=env)
    log = result.stdout + result.stderr
    assert result.returncode != 0, log[-3000:]
    assert 'NonFiniteLossError: non-finite loss at iteration 2: ' \
        'loss=nan, loss_mask=nan, d1.loss_dice=nan.' in log, log[-3000:]
    good = osp.join(work, 'iter_1.pth')
    assert f'the last checkpoint, {good}, was saved' in log
    assert not osp.exists(osp.join(work, 'iter_2.pth'))
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read().strip() == good
    state = torch.load(good, map_location='cpu', weights_only=False)
    assert state['meta']['iter'] == 1
    weights = [v for v in state['state_dict'].values()
               if v.is_floating_point()]
    assert len(weights) > 100
    assert all(torch.isfinite(v).all() for v in weights)
