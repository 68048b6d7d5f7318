# Copyright (c) s4m-mm authors. All rights reserved.
import json
import os
import os.path as osp
import shutil

import pytest

from s4m_mm.datasets import (AnnotationError, NucleiDataset,
                             S4MCocoDataset)

CLASSES = ('disk', 'blob')


def build(root, ann_file='annotations/train.json', classes=CLASSES, **kw):
    ds = S4MCocoDataset(
        data_root=root,
        ann_file=ann_file,
        data_prefix=dict(img='images/'),
        metainfo=dict(classes=classes),
        pipeline=[],
        **kw)
    return ds


def copy_fixture(src, dst):
    shutil.copytree(src, dst)
    return str(dst)


def rewrite(root, fn):
    path = osp.join(root, 'annotations/train.json')
    with open(path) as f:
        data = json.load(f)
    fn(data)
    with open(path, 'w') as f:
        json.dump(data, f)


def test_loads_every_image_with_labels(synthetic_coco_dir):
    ds = build(synthetic_coco_dir)
    with open(osp.join(synthetic_coco_dir, 'annotations/train.json')) as f:
        raw = json.load(f)
    assert len(ds) == len(raw['images'])
    n_instances = sum(len(ds.get_data_info(i)['instances'])
                      for i in range(len(ds)))
    assert n_instances == len(raw['annotations'])


def test_missing_ann_file_names_it_and_the_hint(synthetic_coco_dir):
    with pytest.raises(FileNotFoundError) as e:
        build(synthetic_coco_dir, ann_file='annotations/nope.json',
              missing_hint='run tools/x.py')
    assert 'annotations/nope.json' in str(e.value)
    assert 'run tools/x.py' in str(e.value)


def test_corrupt_json_names_the_file(synthetic_coco_dir, tmp_path):
    root = copy_fixture(synthetic_coco_dir, tmp_path / 'd')
    with open(osp.join(root, 'annotations/train.json'), 'w') as f:
        f.write('{"images": [')
    with pytest.raises(AnnotationError, match='train.json.*not valid JSON'):
        build(root)


def test_empty_images_is_refused(synthetic_coco_dir, tmp_path):
    root = copy_fixture(synthetic_coco_dir, tmp_path / 'd')
    rewrite(root, lambda d: d.update(images=[], annotations=[]))
    with pytest.raises(AnnotationError, match='"images" is missing or empty'):
        build(root)


def test_class_names_not_in_file_are_refused(synthetic_coco_dir):
    with pytest.raises(AnnotationError, match=r"\['car'\]"):
        build(synthetic_coco_dir, classes=('disk', 'car'))


def test_annotation_of_class_outside_config_is_refused(synthetic_coco_dir):
    with pytest.raises(AnnotationError, match='not among the config classes'):
        build(synthetic_coco_dir, classes=('disk', ))
    ds = build(
        synthetic_coco_dir, classes=('disk', ), ignore_extra_categories=True)
    labels = {
        int(inst['bbox_label'])
        for i in range(len(ds))
        for inst in ds.get_data_info(i)['instances']
    }
    assert labels == {0}


def test_missing_image_file_is_refused(synthetic_coco_dir, tmp_path):
    root = copy_fixture(synthetic_coco_dir, tmp_path / 'd')
    os.remove(osp.join(root, 'images', 'img_003.png'))
    with pytest.raises(FileNotFoundError, match='img_003.png'):
        build(root)


def test_empty_polygon_is_refused(synthetic_coco_dir, tmp_path):
    root = copy_fixture(synthetic_coco_dir, tmp_path / 'd')
    rewrite(root, lambda d: d['annotations'][0].update(segmentation=[]))
    with pytest.raises(AnnotationError, match='annotation id 1 .*empty'):
        build(root)


def test_nuclei_dataset_has_one_class():
    assert NucleiDataset.METAINFO['classes'] == ('nucleus', )
