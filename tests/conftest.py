# Copyright (c) s4m-mm authors. All rights reserved.
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session')
def repo_root():
    return REPO


@pytest.fixture(scope='session')
def synthetic_coco_dir(tmp_path_factory):
    """8 synthetic 64 px images with 2 classes: annotations/train.json."""
    from s4m_mm.testing import write_synthetic_coco
    root = tmp_path_factory.mktemp('synthetic_coco')
    write_synthetic_coco(str(root), ann_name='train.json', num_images=8)
    return str(root)
