# Copyright (c) s4m-mm authors. All rights reserved.
"""S4MRunner: a named hook of ``default_hooks`` set to None is left out,
mmengine's own default hooks as mmengine does it."""
import torch
from mmengine.model import BaseModel
from torch import nn

from s4m_mm.engine.runner import S4MRunner
from s4m_mm.engine.runner.s4m_runner import drop_switched_off_hooks


class TinyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def forward(self, inputs=None, data_samples=None, mode='tensor'):
        return dict(loss=self.linear(torch.zeros(1, 1)).sum())


def test_only_this_packages_switched_off_hooks_are_dropped():
    hooks = dict(timer=None, refine=None, finite_loss=None,
                 teacher_schedule=dict(type='TeacherScheduleHook'))
    # mmengine's own 'timer' stays None (mmengine removes it), the others
    # set to None are gone
    assert drop_switched_off_hooks(hooks) == dict(
        timer=None, teacher_schedule=dict(type='TeacherScheduleHook'))
    assert drop_switched_off_hooks(None) is None


def test_runner_registers_named_hooks_and_leaves_out_the_switched_off(
        tmp_path):
    runner = S4MRunner(
        model=TinyModel(),
        work_dir=str(tmp_path),
        default_scope='mmdet',
        default_hooks=dict(
            timer=None,
            refine=None,
            rng_state=None,
            finite_loss=dict(type='FiniteLossHook')))
    names = [type(hook).__name__ for hook in runner.hooks]
    assert 'FiniteLossHook' in names
    assert 'IterTimerHook' not in names  # mmengine's own, switched off
    assert 'PseudoLabelRefineHook' not in names
    assert 'RNGStateHook' not in names
    assert 'CheckpointHook' in names  # mmengine's defaults are kept
