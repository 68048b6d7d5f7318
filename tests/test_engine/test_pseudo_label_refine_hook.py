# Copyright (c) s4m-mm authors. All rights reserved.
"""PseudoLabelRefineHook: when refinement runs, where SAM lives and what
reaches the message hub."""
from types import SimpleNamespace

import pytest
from mmengine.logging import MessageHub
from torch import nn

from s4m_mm.engine.hooks import PseudoLabelRefineHook


class Model(nn.Module):
    """What the hook touches on S4M: a refiner, its switch and its
    statistics."""

    def __init__(self, refiner=True):
        super().__init__()
        self.refiner = SimpleNamespace(sam_device='unset') if refiner \
            else None
        self.refine_enabled = None
        self.refine_stats = {'stale': 1.0}


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
        # the statistics of the previous iteration are cleared
        assert model.refine_stats == {}
        model.refine_stats = {'instances': it}
    assert switched == expected


def test_sam_device_is_given_to_the_refiner_before_training():
    model = Model()
    PseudoLabelRefineHook(sam_device='cuda:1').before_train(runner(model))
    assert model.refiner.sam_device == 'cuda:1'
    PseudoLabelRefineHook().before_train(runner(model))
    assert model.refiner.sam_device is None


def test_a_model_without_refiner_is_refused():
    with pytest.raises(TypeError, match='needs a model with a `refiner`'):
        PseudoLabelRefineHook().before_train(runner(Model(refiner=False)))


def test_statistics_reach_the_message_hub_as_they_are():
    model = Model()
    run = runner(model, 4, 'test_refine_hook_stats')
    model.refine_stats = dict(instances=12, refined=5,
                              iou_teacher_refined=0.625, sam_pred_iou=0.75,
                              other=3.0)
    PseudoLabelRefineHook().after_train_iter(run, 4)
    scalars = run.message_hub.log_scalars
    assert {k for k in scalars if k.startswith('train/refine_')} == {
        'train/refine_instances', 'train/refine_refined',
        'train/refine_iou_teacher_refined', 'train/refine_sam_pred_iou'}
    assert scalars['train/refine_instances'].current() == 12
    assert scalars['train/refine_refined'].current() == 5
    assert scalars['train/refine_iou_teacher_refined'].current() == 0.625
    assert scalars['train/refine_sam_pred_iou'].current() == 0.75
    # an iteration without instances publishes only what it has
    model.refine_stats = dict(instances=0, refined=0)
    PseudoLabelRefineHook().after_train_iter(run, 5)
    assert scalars['train/refine_instances'].current() == 0
    assert scalars['train/refine_sam_pred_iou'].current() == 0.75


def test_defaults_and_arguments():
    hook = PseudoLabelRefineHook()
    assert (hook.enabled, hook.start_iter, hook.sam_device) == (True, 0,
                                                                None)
    assert hook.priority == 'NORMAL'
    with pytest.raises(ValueError, match='start_iter must be >= 0, got -1'):
        PseudoLabelRefineHook(start_iter=-1)
