# Copyright (c) s4m-mm authors. All rights reserved.
import json
import os.path as osp

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from s4m_mm.demo.nuclei_data import (assign_tiles, build_nuclei_dataset,
                                     read_stardist_arrays, to_uint8)


def tiny_arrays():
    """A 64x64 'fluorescence' image with 6 square nuclei, one of them cut by
    the border between tiles and one too small to keep after cutting."""
    image = np.full((64, 64), 100, np.uint16)
    labels = np.zeros((64, 64), np.int32)
    boxes = [(2, 2, 8, 8), (40, 5, 48, 12), (5, 40, 12, 50),
             (40, 40, 50, 50), (28, 10, 36, 18), (31, 50, 34, 53)]
    for i, (y0, x0, y1, x1) in enumerate(boxes, start=1):
        labels[y0:y1, x0:x1] = i
        image[y0:y1, x0:x1] = 1000 + 100 * i
    return image, labels


def load(out, name):
    with open(osp.join(out, 'annotations', f'{name}.json')) as f:
        return json.load(f)


def test_tiles_parts_and_masks(tmp_path):
    image, labels = tiny_arrays()
    out = str(tmp_path / 'nuclei')
    summary = build_nuclei_dataset(
        image, labels, out, tile_size=32, num_labeled=1, num_val=1,
        min_area=8)
    assert summary['tiles'] == {'labeled': 1, 'unlabeled': 2, 'val': 1}
    parts = {k: load(out, k) for k in
             ('labeled', 'unlabeled', 'unlabeled_gt', 'val')}
    names = [i['file_name'] for k in ('labeled', 'unlabeled', 'val')
             for i in parts[k]['images']]
    assert sorted(names) == sorted(f'tile_{r}_{c}.png' for r in range(2)
                                   for c in range(2))
    assert parts['unlabeled']['annotations'] == []
    assert parts['unlabeled_gt']['images'] == parts['unlabeled']['images']
    # every annotation decodes to exactly the visible part of one nucleus
    anns = [a for k in ('labeled', 'unlabeled_gt', 'val')
            for a in parts[k]['annotations']]
    by_id = {i['id']: i for k in ('labeled', 'unlabeled', 'val')
             for i in parts[k]['images']}
    for ann in anns:
        r, c = map(int, by_id[ann['image_id']]['file_name'][5:8].split('_'))
        tile = labels[r * 32:(r + 1) * 32, c * 32:(c + 1) * 32]
        m = mask_utils.decode(ann['segmentation']).astype(bool)
        ids = np.unique(tile[m])
        assert len(ids) == 1 and ids[0] > 0
        assert (tile == ids[0]).sum() == m.sum() == ann['area']
    # nuclei 1-4 lie inside one tile each; nucleus 5 (rows 28-35) is cut
    # into two 32 px parts, both kept; nucleus 6 (rows 31-33, 3 px wide) is
    # cut into 3 px and 6 px parts, both under min_area and reported.
    assert len(anns) == 6
    assert summary['fragments_below_min_area'] == 2
    assert summary['instances']['unlabeled'] == len(
        parts['unlabeled_gt']['annotations'])


def test_same_seed_same_files(tmp_path):
    image, labels = tiny_arrays()
    for run in ('a', 'b'):
        build_nuclei_dataset(image, labels, str(tmp_path / run),
                             tile_size=32, num_labeled=1, num_val=1, seed=7)
    for name in ('labeled', 'unlabeled', 'unlabeled_gt', 'val'):
        a = (tmp_path / 'a' / 'annotations' / f'{name}.json').read_bytes()
        b = (tmp_path / 'b' / 'annotations' / f'{name}.json').read_bytes()
        assert a == b


def test_assignment_is_a_partition_and_checks_counts():
    parts = assign_tiles(16, 3, 4, seed=0)
    flat = parts['labeled'] + parts['unlabeled'] + parts['val']
    assert sorted(flat) == list(range(16))
    with pytest.raises(ValueError, match='at least one unlabeled'):
        assign_tiles(4, 2, 2, seed=0)


def test_to_uint8_stretches_percentiles():
    img = np.linspace(0, 1000, 10000).reshape(100, 100)
    out = to_uint8(img)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255


def test_wheel_without_the_images_is_refused(tmp_path):
    import zipfile
    wheel = tmp_path / 'stardist-0.9.2-x.whl'
    with zipfile.ZipFile(wheel, 'w') as zf:
        zf.writestr('stardist/__init__.py', '')
    with pytest.raises(FileNotFoundError, match='img2d.tif'):
        read_stardist_arrays(str(wheel))


def test_own_data_layout_is_what_the_custom_example_settings_name(tmp_path):
    """``--layout own-data``: a labeled and a val json over images/, the
    unlabeled tiles in a folder of their own, no json for them; the
    settings of configs/s4m/custom/custom_settings_example.py resolve on
    it."""
    import os

    from mmengine.config import Config

    from s4m_mm.demo.nuclei_data import rearrange_as_own_data
    from s4m_mm.engine.runner import apply_custom_settings
    from s4m_mm.testing import get_config_path
    image, labels = tiny_arrays()
    out = str(tmp_path / 'my_nuclei')
    build_nuclei_dataset(image, labels, out, tile_size=32, num_labeled=1,
                         num_val=1, min_area=8)
    unlabeled = [i['file_name'] for i in load(out, 'unlabeled')['images']]
    counts = rearrange_as_own_data(out)
    assert counts == {'labeled': 1, 'unlabeled': 2, 'val': 1}
    assert sorted(os.listdir(osp.join(out, 'unlabeled'))) == sorted(unlabeled)
    assert sorted(os.listdir(osp.join(out, 'annotations'))) == [
        'labeled.json', 'val.json'
    ]
    assert not set(os.listdir(osp.join(out, 'images'))) & set(unlabeled)

    custom = get_config_path('s4m/custom')
    example = Config.fromfile(osp.join(custom, 'custom_settings_example.py'))
    cfg = Config.fromfile(osp.join(custom, 's4m-student_effl0_custom.py'))
    cfg.merge_from_dict(
        dict(
            custom_settings=dict(
                example.custom_settings,
                data_root=out + '/',
                teacher_checkpoint='t.pth')))
    cfg = apply_custom_settings(cfg)
    assert cfg.model.detector.panoptic_head.num_things_classes == 1
    assert cfg.model.refiner.sam.type == 'LiteMedSAMAdapter'
