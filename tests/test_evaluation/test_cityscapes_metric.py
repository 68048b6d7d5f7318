# Copyright (c) s4m-mm authors. All rights reserved.
"""The Cityscapes configs report the paper's number, the Cityscapes
evaluator's mask AP (mmdet's CityScapesMetric over cityscapesscripts),
here run end to end on a synthetic gtFine frame."""
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet.registry import METRICS
from s4m_mm.testing import get_config_path

CONFIG = get_config_path(
    's4m/cityscapes/s4m-student_r50_4xb8-90k_cityscapes-5pct.py')
CLASSES = ('person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle',
           'bicycle')
H, W = 64, 128


def box(y0, y1, x0, x1):
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def write_frame(root):
    """One val frame: a car (label id 26) and a person (24), 400 px each
    (the evaluator ignores GT under 100 px)."""
    car, person = box(10, 30, 10, 30), box(30, 50, 60, 80)
    ids = np.zeros((H, W), np.uint16)
    ids[car] = 26 * 1000
    ids[person] = 24 * 1000
    name = 'city_000000_000019'
    img = osp.join(root, 'leftImg8bit/val/city', name + '_leftImg8bit.png')
    mmcv.imwrite(np.zeros((H, W, 3), np.uint8), img)
    mmcv.imwrite(ids,
                 osp.join(root, 'gtFine/val/city',
                          name + '_gtFine_instanceIds.png'))
    return img, car, person


def metric_from_config(root):
    cfg = Config.fromfile(CONFIG)
    init_default_scope('mmdet')
    assert cfg.val_evaluator.type == 'NamedEvaluator'
    cs_cfg = cfg.val_evaluator.metrics.cityscapes
    assert cs_cfg.type == 'CityScapesMetric'
    assert cs_cfg.seg_prefix == 'data/cityscapes/gtFine/val'
    metric = METRICS.build(dict(cs_cfg, seg_prefix=root + '/gtFine/val'))
    metric.dataset_meta = dict(classes=CLASSES)
    return metric


def test_cityscapes_evaluator_mask_ap(tmp_path):
    root = str(tmp_path)
    img, car, person = write_frame(root)
    metric = metric_from_config(root)
    # the car found exactly, the person missed, a car-shaped "bus" where
    # there is no bus: AP car 1, person 0, bus nan (no GT) -> mean 0.5
    pred = dict(
        labels=torch.tensor([CLASSES.index('car'), CLASSES.index('bus')]),
        masks=torch.from_numpy(np.stack([car, box(40, 60, 100, 120)])),
        scores=torch.tensor([0.9, 0.8]))
    metric.process({}, [dict(pred_instances=pred, img_path=img)])
    results = metric.evaluate(1)
    assert results['cityscapes/mAP'] == pytest.approx(0.5)
    assert results['cityscapes/AP@50'] == pytest.approx(0.5)


def test_both_found_gives_full_ap(tmp_path):
    root = str(tmp_path)
    img, car, person = write_frame(root)
    metric = metric_from_config(root)
    pred = dict(
        labels=torch.tensor([CLASSES.index('car'),
                             CLASSES.index('person')]),
        masks=torch.from_numpy(np.stack([car, person])),
        scores=torch.tensor([0.9, 0.7]))
    metric.process({}, [dict(pred_instances=pred, img_path=img)])
    assert metric.evaluate(1)['cityscapes/mAP'] == pytest.approx(1.0)


def test_in1d_is_the_flattened_isin():
    from s4m_mm.utils.cityscapes_compat import in1d
    a = np.array([[1, 2], [3, 4]])
    assert in1d(a, [2, 3]).tolist() == [False, True, True, False]
    assert in1d(a, [2, 3], invert=True).tolist() == [True, False, False, True]
    assert hasattr(np, 'in1d')  # given back (or never removed)
