# Copyright (c) s4m-mm authors. All rights reserved.
"""PseudoLabelRefineHook: when refinement runs and where SAM lives; the
statistics of refinement reach the message hub as S4M's log variables
(through MMEngine's RuntimeInfoHook, not through this hook)."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook, RuntimeInfoHook
from mmengine.logging import MessageHub
from torch import nn

from s4m_mm.engine.hooks import PseudoLabelRefineHook


class Model(nn.Module):
    """What the hook touches on S4M: a refiner and its switch."""

    def __init__(self, refiner=True):
        super().__init__()
        self.refiner = SimpleNamespace(predictor=SimpleNamespace(
            device='unset')) if refiner else None
        self.refine_enabled = None


def runner(model, it=0, name='test_refine_hook'):
    return SimpleNamespace(model=model, iter=it,
                           message_hub=MessageHub.get_instance(name))


@pytest.mark.parametrize('enabled,start_iter,expected', [
    (True, 0, [True, True, True, True, True]),
    (True, 3, [False, False, False, True, True]),
    (False, 0, [False] * 5),
    (False, 3, [False] * 5),
])
def test_refinement_runs_from_start_iter_when_enabled(enabled, start_iter,
                                                      expected):
    hook = PseudoLabelRefineHook(enabled=enabled, start_iter=start_iter)
    model = Model()
    switched = []
    for it in range(5):
        hook.before_train_iter(runner(model, it), it)
        switched.append(model.refine_enabled)
    assert switched == expected


def test_sam_device_is_given_to_the_refiners_sam_before_training():
    model = Model()
    PseudoLabelRefineHook(sam_device='cuda:1').before_train(runner(model))
    assert model.refiner.predictor.device == 'cuda:1'
    PseudoLabelRefineHook().before_train(runner(model))
    assert model.refiner.predictor.device is None


def test_a_model_without_refiner_is_refused():
    with pytest.raises(TypeError, match='needs a model with a `refiner`'):
        PseudoLabelRefineHook().before_train(runner(Model(refiner=False)))


def test_refine_log_variables_reach_the_message_hub_as_they_are():
    # S4M.loss returns refine_<key> tensors next to its losses; mmengine's
    # RuntimeInfoHook puts every log variable in the message hub
    from s4m_mm.models.detectors import S4M
    log_vars = S4M.refine_log_vars(
        dict(instances=12, refined=5, iou_teacher_refined=0.625,
             sam_pred_iou=0.75), torch.device('cpu'))
    assert set(log_vars) == {'refine_instances', 'refine_refined',
                             'refine_iou_teacher_refined',
                             'refine_sam_pred_iou'}
    assert not any('loss' in key for key in log_vars)  # not summed
    run = runner(Model(), 4, 'test_refine_hook_stats')
    RuntimeInfoHook().after_train_iter(
        run, 4, outputs={k: float(v) for k, v in log_vars.items()})
    scalars = run.message_hub.log_scalars
    assert scalars['train/refine_instances'].current() == 12
    assert scalars['train/refine_refined'].current() == 5
    assert scalars['train/refine_iou_teacher_refined'].current() == 0.625
    assert scalars['train/refine_sam_pred_iou'].current() == 0.75
    # the hook itself publishes nothing after an iteration
    assert PseudoLabelRefineHook.after_train_iter is Hook.after_train_iter


def test_defaults_and_arguments():
    hook = PseudoLabelRefineHook()
    assert (hook.enabled, hook.start_iter, hook.sam_device) == (True, 0,
                                                                None)
    assert hook.priority == 'NORMAL'
    with pytest.raises(ValueError, match='start_iter must be >= 0, got -1'):
        PseudoLabelRefineHook(start_iter=-1)
