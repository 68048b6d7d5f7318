# Copyright (c) s4m-mm authors. All rights reserved.
"""Glue shared by ``tools/train.py`` and ``tools/test.py``."""
import os
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction  # noqa: F401 (re-export)


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


def default_work_dir(config_path: str) -> str:
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def set_local_rank_env(local_rank: int) -> None:
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(local_rank)
