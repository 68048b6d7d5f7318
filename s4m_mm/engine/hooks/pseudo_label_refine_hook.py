# Copyright (c) s4m-mm authors. All rights reserved.
from typing import Optional

from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmdet.registry import HOOKS
from .teacher_schedule_hook import unwrap


@HOOKS.register_module()
class PseudoLabelRefineHook(Hook):
    """Decides when S4M's pseudo-labels are refined by SAM: whether at
    all, from which iteration, and on which device SAM lives.

    Before every training iteration it switches ``model.refine_enabled``.
    What refinement changed is not the hook's business: ``S4M.loss``
    returns the refiner's statistics as log variables ``refine_<key>``
    (``instances``: pseudo-instances seen, ``refined``: masks replaced by
    SAM, ``iou_teacher_refined``: mean IoU of the teacher's and SAM's
    masks, ``sam_pred_iou``: SAM's mean predicted IoU), which MMEngine
    puts in the message hub as ``train/refine_<key>``, the logger averages
    over its interval and the visualizer backends record.

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
        model.refiner.predictor.device = self.sam_device

    def before_train_iter(self,
                          runner: Runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        model = unwrap(runner.model)
        model.refine_enabled = self.enabled and runner.iter >= self.start_iter
