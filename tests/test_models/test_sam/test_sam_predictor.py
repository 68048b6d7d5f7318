# Copyright (c) s4m-mm authors. All rights reserved.
"""SAMPredictor: one owner for a frozen SAM, its source frame, store and
SD bank. The parts share its one adapter (also through a deep copy), a
built adapter is shared rather than rebuilt, and neither the predictor nor
its owners add a key to a checkpoint: the stage-1 teacher and the stage-2
model hold exactly the keys of a stock mmdet Mask2Former."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet.registry import MODELS
from s4m_mm.models.refiners import SAMPseudoLabelRefiner
from s4m_mm.models.sam.predictor import SAMPredictor
from s4m_mm.testing import get_config_path, tiny_sam_cfg


@pytest.fixture(scope='module')
def predictor():
    torch.manual_seed(0)
    return SAMPredictor(tiny_sam_cfg(), frame='source',
                        sd_bank=dict(stride=4))


def test_the_source_frame_and_the_bank_use_the_predictors_sam(predictor):
    assert predictor.source.sam is predictor.adapter
    assert predictor.bank.sam is predictor.adapter
    assert predictor.bank.source is predictor.source
    assert predictor.store is predictor.source.store
    assert predictor.frame == 'source' and predictor.device is None
    # a deep copy (as a model copy makes) keeps the sharing within itself
    twin = copy.deepcopy(predictor)
    assert twin.adapter is not predictor.adapter
    assert twin.source.sam is twin.adapter and twin.bank.sam is twin.adapter
    assert twin.bank.source is twin.source


def test_a_built_adapter_is_shared_not_rebuilt(predictor):
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    view = SAMPredictor(predictor.adapter)
    assert torch.equal(torch.rand(3), expected)  # no weights were drawn
    assert view.adapter is predictor.adapter
    assert view.source is None and view.bank is None and view.store is None
    refiner = SAMPseudoLabelRefiner(sam=predictor.adapter)
    assert refiner.predictor.adapter is predictor.adapter


def test_the_predictor_adds_nothing_to_a_state_dict(predictor):
    assert dict(predictor.state_dict()) == {}
    assert list(predictor.parameters()) == []
    refiner = SAMPseudoLabelRefiner(sam=predictor.adapter, frame='source')
    assert dict(refiner.state_dict()) == {}


def test_the_device_decides_where_sam_runs(predictor):
    cpu = torch.device('cpu')
    assert predictor.run_device(cpu) == cpu
    view = SAMPredictor(predictor.adapter)
    view.device = 'meta'
    assert view.run_device(cpu) == torch.device('meta')


def test_bad_frames_and_options_are_named(predictor):
    with pytest.raises(ValueError, match=r"model\.x\.frame must be one of "
                       r"\('view', 'source'\), got 'sideways'"):
        SAMPredictor(predictor.adapter, 'sideways', owner='model.x.frame')
    with pytest.raises(ValueError, match=r"options of model\.x\.frame="
                       r"'source'; got model\.x\.frame='view'"):
        SAMPredictor(predictor.adapter, 'view', sd_bank=dict(stride=2),
                     owner='model.x.frame')


def stock_keys():
    """The state_dict keys of the demo's stock mmdet Mask2Former."""
    cfg = Config.fromfile(
        get_config_path('s4m/demo/mask2former_effl0_nuclei_sup.py'))
    cfg.model.backbone.checkpoint = None
    stock = MODELS.build(cfg.model)
    assert type(stock).__name__ == 'Mask2Former'
    return set(stock.state_dict())


@pytest.fixture(scope='module')
def stock():
    init_default_scope('mmdet')
    torch.manual_seed(0)
    return stock_keys()


def test_the_sd_teacher_checkpoint_holds_the_stock_keys(stock):
    cfg = Config.fromfile(
        get_config_path('s4m/demo/s4m-teacher_effl0_nuclei.py'))
    cfg.model.backbone.checkpoint = None
    cfg.model.sam = tiny_sam_cfg()
    cfg.model.sd_bank = dict(stride=4)  # source frame, store and bank
    teacher = MODELS.build(cfg.model)
    assert teacher.predictor.bank is not None
    assert set(teacher.state_dict()) == stock


def test_the_student_checkpoint_holds_teacher_and_student_keys(stock):
    cfg = Config.fromfile(
        get_config_path('s4m/demo/s4m-student_effl0_nuclei.py'))
    cfg.model.detector.backbone.checkpoint = None
    cfg.model.refiner.sam = tiny_sam_cfg()
    model = MODELS.build(cfg.model)
    assert model.refiner.predictor.source is not None
    assert set(model.state_dict()) == {
        f'{branch}.{key}'
        for branch in ('teacher', 'student') for key in stock
    }
