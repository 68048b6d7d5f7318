# Copyright (c) s4m-mm authors. All rights reserved.
import random

import numpy as np
import pytest
import torch

from s4m_mm.testing import get_repo_root, tiny_sam_options


@pytest.fixture(autouse=True)
def seed_global_generators():
    """Every test starts from the same state of the global generators
    (torch, numpy, random), whatever ran before it: a test that draws
    without a generator of its own draws the same values in any order.
    Fixtures of a wider scope run before this one and seed themselves."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope='session')
def repo_root():
    """The repository's root, where the tools run from."""
    return get_repo_root()


@pytest.fixture
def tiny_sam():
    """A tiny random SAM 1 adapter (ViT-B, 64 px input, one encoder
    block: ``s4m_mm.testing.tiny_sam_options``), its weights drawn after
    ``torch.manual_seed(0)``."""
    from s4m_mm.models.sam import SAMAdapter
    torch.manual_seed(0)
    return SAMAdapter('vit_b', checkpoint=None, **tiny_sam_options())


@pytest.fixture(scope='session')
def synthetic_coco_dir(tmp_path_factory):
    """8 synthetic 64 px images with 2 classes: annotations/train.json."""
    from s4m_mm.testing import write_synthetic_coco
    root = tmp_path_factory.mktemp('synthetic_coco')
    write_synthetic_coco(str(root), ann_name='train.json', num_images=8)
    return str(root)


@pytest.fixture(scope='session')
def own_data(tmp_path_factory):
    """Synthetic data as a user has it (labeled.json, val.json, a folder of
    unlabeled PNGs): its ``custom_settings`` at a 64 x 64 input, with a
    tiny random SAM 1."""
    from s4m_mm.testing import write_own_data
    root = str(tmp_path_factory.mktemp('own_data'))
    settings = write_own_data(root, seed=3)
    settings.update(
        input_size=(64, 64),
        sam_type='vit_b',
        sam_checkpoint=None,
        sam_options=tiny_sam_options())
    return settings


@pytest.fixture
def free_port():
    """A TCP port no process listens on now, for a distributed launch (a
    fixed port can still be held by a run that has just ended)."""
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
