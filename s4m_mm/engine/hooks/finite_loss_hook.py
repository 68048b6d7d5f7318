# Copyright (c) s4m-mm authors. All rights reserved.
"""Stop training at the first iteration whose losses are NaN or infinite.

A non-finite loss poisons the weights through the optimizer step of its
iteration; every later iteration and checkpoint then holds NaN weights. The
:class:`FiniteLossHook` runs in ``after_train_iter`` before the hooks that
save or spread state (teacher EMA, ``CheckpointHook`` at ``VERY_LOW``), so
the poisoned weights are never written and ``last_checkpoint`` keeps naming
the last good checkpoint, from which ``--resume`` continues.

Why a hook and not a check in the optimizer wrapper before the step: the
hook works with any ``optim_wrapper`` (``OptimWrapper``,
``AmpOptimWrapper`` selected by ``--amp``, ...) and any model, and it sees
every loss by name (``sup_loss_mask``, ``unsup_loss_dice``, ...) rather
than only their sum. The in-memory weights of the failing iteration are
lost, which does not matter as the run stops.
"""
import math
from typing import List, Optional

import torch
from mmengine.dist import all_gather_object, all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmdet.registry import HOOKS


class NonFiniteLossError(FloatingPointError):
    """A loss of a training iteration is NaN or infinite."""


def non_finite_losses(outputs: dict) -> List[str]:
    """``'name=value'`` of the losses in ``outputs`` (the ``log_vars`` of
    ``train_step``) that are NaN or infinite, in their order.

    Losses are the entries whose name contains ``'loss'``, as in
    ``BaseModel.parse_losses`` (the total is ``'loss'``).
    """
    bad = []
    for name, value in outputs.items():
        if 'loss' not in name:
            continue
        if isinstance(value, torch.Tensor):
            value = value.detach().float().mean().item()
        value = float(value)
        if not math.isfinite(value):
            bad.append(f'{name}={value}')
    return bad


def _on_every_rank(bad: List[str]) -> List[str]:
    """The non-finite losses of all ranks (``'rank r: name=value'``), so
    that every rank stops at the same iteration; ``bad`` itself when not
    distributed."""
    if get_world_size() == 1:
        return bad
    flag = torch.tensor(float(len(bad) > 0))
    all_reduce(flag)  # one scalar per iteration; names only on failure
    if flag.item() == 0:
        return []
    return [
        f'rank {rank}: {item}'
        for rank, items in enumerate(all_gather_object(bad))
        for item in items
    ]


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` when a loss is NaN or infinite.

    The message gives the iteration (1-based, as in the log's
    ``Iter(train) [k/max]``), the non-finite losses with their values and
    the last checkpoint saved. Enabled for every s4m config in
    ``default_hooks.finite_loss`` of ``configs/s4m/_base_/default_runtime.py``
    (``default_hooks`` is merged by key, so configs that set their own
    checkpoint or logger hooks keep it).

    In distributed training the ranks agree on the verdict (one scalar
    ``all_reduce`` per iteration), so that all of them stop before any
    rank saves a checkpoint.
    """

    # after RuntimeInfoHook (VERY_HIGH), which puts the losses in the log
    # history, before teacher EMA hooks, LoggerHook and CheckpointHook
    priority = 'HIGH'

    def after_train_iter(self,
                         runner: Runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        bad = _on_every_rank(non_finite_losses(outputs or {}))
        if not bad:
            return
        last = runner.message_hub.get_info('last_ckpt')
        saved = (f'the last checkpoint, {last}, was saved before it and is '
                 'kept' if last else 'no checkpoint was saved before it')
        raise NonFiniteLossError(
            f'non-finite loss at iteration {runner.iter + 1}: '
            f'{", ".join(bad)}. Training stopped; {saved}. Lower the '
            'learning rate or clip gradients (optim_wrapper.clip_grad), '
            'check the data of this iteration, then --resume.')
