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


@pytest.fixture
def free_port():
    """A TCP port no process listens on now, for a distributed launch (a
    fixed port can still be held by a run that has just ended)."""
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
