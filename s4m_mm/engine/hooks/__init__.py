# Copyright (c) s4m-mm authors. All rights reserved.
from .pseudo_label_refine_hook import PseudoLabelRefineHook
from .teacher_schedule_hook import TeacherScheduleHook

__all__ = ['PseudoLabelRefineHook', 'TeacherScheduleHook']
