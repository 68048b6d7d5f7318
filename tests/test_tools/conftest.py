# Copyright (c) s4m-mm authors. All rights reserved.
"""Fixtures shared by the S4M stage-2 runs of tests/test_tools."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet.registry import MODELS
from s4m_mm.testing import make_synthetic_coco, write_synthetic_coco

BASELINE = 'configs/s4m/demo/mask2former_effl0_nuclei_sup.py'


@pytest.fixture(scope='session')
def semi_data(tmp_path_factory, repo_root):
    """6 synthetic 64 px images laid out like data/nuclei: labeled.json,
    val.json, unlabeled.json (no annotations) and unlabeled_gt.json (its
    hidden GT), plus a random stage-1 teacher checkpoint.

    Returns:
        tuple[str, str]: the data root and the teacher checkpoint.
    """
    root = str(tmp_path_factory.mktemp('semi'))
    write_synthetic_coco(root, ann_name='labeled.json', num_images=6,
                         size=(64, 64), classes=('nucleus', ), seed=2)
    coco, _ = make_synthetic_coco(num_images=6, size=(64, 64),
                                  classes=('nucleus', ), seed=2)
    for name, anns in (('val.json', coco['annotations']),
                       ('unlabeled.json', []),
                       ('unlabeled_gt.json', coco['annotations'])):
        with open(osp.join(root, 'annotations', name), 'w') as f:
            json.dump(dict(coco, annotations=anns), f)
    # a stage-1 teacher: the plain demo Mask2Former (random weights)
    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(repo_root, BASELINE))
    cfg.model.backbone.checkpoint = None
    torch.manual_seed(0)
    teacher = MODELS.build(cfg.model)
    ckpt = osp.join(root, 'teacher.pth')
    torch.save({'state_dict': teacher.state_dict(), 'meta': {}}, ckpt)
    return root, ckpt


@pytest.fixture(scope='session')
def confident_teacher(semi_data):
    """The random teacher of ``semi_data``, made sure that every query is a
    nucleus (softmax confidence ~1 > 0.7): a stage-2 run always has
    pseudo-instances to refine, mix and learn from.

    Returns:
        str: the checkpoint.
    """
    _, random_ckpt = semi_data
    state = torch.load(random_ckpt, map_location='cpu')
    state['state_dict']['panoptic_head.cls_embed.bias'][0] = 20.0
    ckpt = osp.join(osp.dirname(random_ckpt), 'confident_teacher.pth')
    torch.save(state, ckpt)
    return ckpt
