# Copyright (c) s4m-mm authors. All rights reserved.
from .early_stopping_hook import ResumableEarlyStoppingHook
from .finite_loss_hook import FiniteLossHook
from .pseudo_label_quality_hook import PseudoLabelQualityHook
from .pseudo_label_refine_hook import PseudoLabelRefineHook
from .replica_check_hook import ReplicaCheckHook
from .rng_state_hook import RNGStateHook
from .teacher_schedule_hook import TeacherScheduleHook

__all__ = [
    'FiniteLossHook', 'PseudoLabelQualityHook', 'PseudoLabelRefineHook',
    'ReplicaCheckHook', 'ResumableEarlyStoppingHook', 'RNGStateHook',
    'TeacherScheduleHook'
]
