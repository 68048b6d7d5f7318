# Copyright (c) s4m-mm authors. All rights reserved.
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from torch import nn

from mmdet.registry import HOOKS
from s4m_mm.models.utils.teacher import (copy_weights, ema_update,
                                         load_teacher_weights)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class TeacherScheduleHook(Hook):
    """S4M's teacher: pre-trained, frozen during a guided burn-in, then a copy
    of the student, then its exponential moving average. The hook decides
    when; the arithmetic is in :mod:`s4m_mm.models.utils.teacher`
    (``load_teacher_weights``, ``copy_weights``, ``ema_update``).

    - ``before_train`` of a fresh run (iteration 0): the teacher gets the
      stage-1 checkpoint (a plain Mask2Former state dict; keys must match
      exactly), and with ``init_student='teacher'`` so does the student. A
      resumed run keeps the teacher and student of its checkpoint.
    - after iteration ``burn_in``: teacher := student.
    - after every later iteration: EMA of parameters and float buffers with
      ``decay``.

    mmdet's ``MeanTeacherHook`` copies the student into the teacher at
    iteration 0, which would throw the pre-trained teacher away. All state
    lives in the model's weights and the runner's iteration, so ``--resume``
    works before and after the burn-in.

    Args:
        teacher_checkpoint (str): the stage-1 checkpoint.
        burn_in (int): iterations with the frozen pre-trained teacher.
        decay (float): EMA decay per iteration. Defaults to 0.9996.
        init_student (str): ``'config'`` (default, the paper): the student
            starts from the config's initialisation (an ImageNet backbone);
            ``'teacher'``: it starts as a copy of the stage-1 teacher, for
            runs far too short to train a student from ImageNet (the CPU
            demo).
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 teacher_checkpoint: Optional[str],
                 burn_in: int = 25000,
                 decay: float = 0.9996,
                 init_student: str = 'config'):
        if init_student not in ('config', 'teacher'):
            raise ValueError("init_student must be 'config' or 'teacher', "
                             f'got {init_student!r}')
        if burn_in < 0:
            raise ValueError(f'burn_in must be >= 0, got {burn_in}')
        if not 0.0 < decay < 1.0:
            raise ValueError(f'decay must be in (0, 1), got {decay}')
        self.teacher_checkpoint = teacher_checkpoint
        self.burn_in = burn_in
        self.decay = decay
        self.init_student = init_student

    def before_train(self, runner: Runner) -> None:
        model = unwrap(runner.model)
        for name in ('teacher', 'student'):
            if not hasattr(model, name):
                raise TypeError(f'TeacherScheduleHook needs a model with '
                                f'`teacher` and `student`, got '
                                f'{type(model).__name__}')
        if runner.iter == 0:
            self.load_teacher(model.teacher, runner)
            if self.init_student == 'teacher':
                copy_weights(model.teacher, model.student)
                runner.logger.info('student initialised from the teacher')

    def load_teacher(self, teacher: nn.Module, runner=None) -> None:
        """Load ``teacher_checkpoint`` into ``teacher`` (see
        :func:`s4m_mm.models.utils.load_teacher_weights`)."""
        load_teacher_weights(teacher, self.teacher_checkpoint,
                             None if runner is None else runner.logger)

    def after_train_iter(self,
                         runner: Runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        done = runner.iter + 1  # iterations completed
        model = unwrap(runner.model)
        if done < self.burn_in:
            return
        if done == self.burn_in:
            copy_weights(model.student, model.teacher)
            runner.logger.info(f'burn-in over after {done} iterations: the '
                               'teacher is now a copy of the student')
        else:
            ema_update(model.teacher, model.student, self.decay)
