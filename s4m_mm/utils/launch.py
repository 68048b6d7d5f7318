# Copyright (c) s4m-mm authors. All rights reserved.
"""Glue shared by ``tools/train.py`` and ``tools/test.py``."""
import argparse
import os
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction


def init_cpu_process_group(launcher: str) -> bool:
    """Initialise a gloo process group for CPU-only distributed runs.

    MMEngine's ``pytorch`` launcher calls ``torch.cuda.set_device``
    unconditionally, which fails on a machine without GPUs. When no GPU is
    present the group is created here (from the variables that ``torchrun``
    sets); the Runner then finds it initialised and skips its own set-up.

    Returns:
        bool: whether this function created the group.
    """
    if launcher == 'none' or torch.cuda.is_available() or \
            dist.is_initialized():
        return False
    if launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {launcher} needs GPUs; on a CPU-only machine use '
            '--launcher pytorch with torchrun (gloo backend)')
    dist.init_process_group(backend='gloo')
    return True


def cpu_ddp_wrapper_cfg(cfg: Config) -> None:
    """DDP of CPU modules needs ``device_ids=None``: set it unless the config
    already chose a wrapper."""
    if torch.cuda.is_available():
        return
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel')
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper


def shutdown_distributed() -> None:
    """Destroy the process group before the interpreter exits: a gloo group
    left alive aborts the processes at exit ("terminate called without an
    active exception") after a successful run."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """``--work-dir``, ``--cfg-options``, ``--launcher`` and
    ``--local-rank``, as mmdet's tools have them."""
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value (xxx=yyy format)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args: argparse.Namespace) -> Config:
    """The config of ``args.config`` with ``--cfg-options``, the launcher
    and the work dir (``--work-dir``, else the config's, else
    ``./work_dirs/<config name>``) applied."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs',
        osp.splitext(osp.basename(args.config))[0])
    return cfg


def build_runner(cfg: Config):
    """A Runner (or the config's ``runner_type``), after the CPU-only
    distributed set-up of :func:`init_cpu_process_group`."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if init_cpu_process_group(cfg.launcher):
        cpu_ddp_wrapper_cfg(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
