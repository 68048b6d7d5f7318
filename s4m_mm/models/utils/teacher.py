# Copyright (c) s4m-mm authors. All rights reserved.
"""The teacher's arithmetic, apart from the hook that decides when it
runs (as MMEngine keeps ``ExponentialMovingAverage`` apart from
``EMAHook``): copying weights, the exponential moving average and loading
a stage-1 checkpoint into a teacher."""
import logging
from typing import Optional

import torch
from mmengine.runner.checkpoint import _load_checkpoint
from torch import nn

from s4m_mm.utils import resolve_asset_path


@torch.no_grad()
def copy_weights(src: nn.Module, dst: nn.Module) -> None:
    """``dst`` := ``src`` for every parameter and buffer (same keys)."""
    dst.load_state_dict(src.state_dict())


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, decay: float) -> None:
    """``t = decay * t + (1 - decay) * s`` for parameters and float
    buffers (e.g. BatchNorm statistics); other buffers (counters such as
    ``num_batches_tracked``) are copied.

    Args:
        teacher (nn.Module): updated in place.
        student (nn.Module): the same architecture.
        decay (float): in ``(0, 1)``.
    """
    t_params = dict(teacher.named_parameters())
    for name, s in student.named_parameters():
        t_params[name].mul_(decay).add_(s.detach(), alpha=1 - decay)
    t_buffers = dict(teacher.named_buffers())
    for name, s in student.named_buffers():
        t = t_buffers[name]
        if t.is_floating_point():
            t.mul_(decay).add_(s, alpha=1 - decay)
        else:
            t.copy_(s)


def load_teacher_weights(teacher: nn.Module,
                         checkpoint: Optional[str],
                         logger: Optional[logging.Logger] = None) -> str:
    """Load a stage-1 checkpoint (a plain Mask2Former's ``state_dict``,
    mmengine's ``{'state_dict': ...}`` or the bare dict) into ``teacher``;
    its keys and shapes must match exactly.

    Args:
        teacher (nn.Module): the teacher (``S4M.teacher``), changed in
            place.
        checkpoint (str): a path, URL or ``pkg://`` asset.
        logger (logging.Logger, optional): told where it was loaded from.

    Returns:
        str: the resolved path.

    Raises:
        ValueError: when ``checkpoint`` is None.
        RuntimeError: naming missing and unexpected keys and shape
            mismatches when the checkpoint does not fit.
    """
    if checkpoint is None:
        raise ValueError(
            'teacher_checkpoint is None; stage 2 starts from a stage-1 '
            'teacher (set default_hooks.teacher_schedule.'
            'teacher_checkpoint, or pass the checkpoint to the tool)')
    path = resolve_asset_path(checkpoint, 'teacher checkpoint')
    state = _load_checkpoint(path, map_location='cpu')
    state = state.get('state_dict', state)
    own = teacher.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [
        f'{k}: checkpoint {tuple(state[k].shape)} vs teacher '
        f'{tuple(own[k].shape)}' for k in sorted(set(own) & set(state))
        if own[k].shape != state[k].shape
    ]
    if missing or unexpected or wrong:
        raise RuntimeError(
            f'teacher checkpoint {path!r} does not fit the teacher '
            f'({type(teacher).__name__}): {len(missing)} missing keys '
            f'{missing[:3]}, {len(unexpected)} unexpected keys '
            f'{unexpected[:3]}, {len(wrong)} shape mismatches '
            f'{wrong[:3]}; is it a stage-1 checkpoint of the same '
            'architecture and class count?')
    teacher.load_state_dict(state)
    if logger is not None:
        logger.info(f'teacher loaded from {path}')
    return path
