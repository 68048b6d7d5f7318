# Copyright (c) s4m-mm authors. All rights reserved.
from typing import Optional

from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmdet.registry import HOOKS
from .teacher_schedule_hook import unwrap

#: refinement statistics published to the message hub (and so the log)
STAT_KEYS = ('instances', 'refined', 'iou_teacher_refined', 'sam_pred_iou')


@HOOKS.register_module()
class PseudoLabelRefineHook(Hook):
    """Owns SAM refinement of S4M's pseudo-labels: whether it runs, from
    which iteration, on which device SAM lives, and what it changed.

    Before every training iteration it switches ``model.refine_enabled``;
    after it, the refiner's statistics of that iteration go to the message
    hub as ``train/refine_<key>`` scalars, which the logger averages over its
    interval and the visualizer backends record: ``instances`` (pseudo-
    instances seen), ``refined`` (masks replaced by SAM), ``iou_teacher_
    refined`` (mean IoU of the teacher's and SAM's masks) and
    ``sam_pred_iou`` (SAM's mean predicted IoU).

    Args:
        enabled (bool): refine at all. Defaults to True.
        start_iter (int): first iteration that refines. Defaults to 0.
        sam_device (str, optional): run SAM on this device (e.g. ``'cpu'``
            or ``'cuda:1'``) instead of the model's.
    """

    priority = 'NORMAL'

    def __init__(self,
                 enabled: bool = True,
                 start_iter: int = 0,
                 sam_device: Optional[str] = None):
        if start_iter < 0:
            raise ValueError(f'start_iter must be >= 0, got {start_iter}')
        self.enabled = enabled
        self.start_iter = start_iter
        self.sam_device = sam_device

    def before_train(self, runner: Runner) -> None:
        model = unwrap(runner.model)
        if getattr(model, 'refiner', None) is None:
            raise TypeError(
                'PseudoLabelRefineHook needs a model with a `refiner` (S4M '
                f'with model.refiner set), got {type(model).__name__}')
        model.refiner.sam_device = self.sam_device

    def before_train_iter(self,
                          runner: Runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        model = unwrap(runner.model)
        model.refine_enabled = self.enabled and runner.iter >= self.start_iter
        model.refine_stats = {}

    def after_train_iter(self,
                         runner: Runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        stats = unwrap(runner.model).refine_stats
        for key in STAT_KEYS:
            if key in stats:
                runner.message_hub.update_scalar(f'train/refine_{key}',
                                                 stats[key])
