# Copyright (c) s4m-mm authors. All rights reserved.
import json
import os.path as osp
import subprocess
import sys

import pytest

from s4m_mm.datasets import AnnotationError, split_cityscapes, split_coco
from s4m_mm.datasets.semi_split import (cityscapes_frame_key,
                                        read_cityscapes_list,
                                        split_file_names)
from s4m_mm.testing import make_synthetic_coco


@pytest.fixture
def coco():
    return make_synthetic_coco(num_images=40, seed=3)[0]


def _ids(part):
    return [img['id'] for img in part['images']]


@pytest.mark.parametrize('percent', [1, 2.5, 10, 50, 99])
def test_split_partitions_images_and_keeps_annotations(coco, percent):
    labeled, unlabeled = split_coco(coco, percent, fold=1, seed=0)
    all_ids = sorted(_ids(labeled) + _ids(unlabeled))
    assert all_ids == sorted(_ids(coco))  # every image exactly once
    assert len(_ids(labeled)) == min(max(round(40 * percent / 100), 1), 39)
    for part in (labeled, unlabeled):
        ids = set(_ids(part))
        expected = [a for a in coco['annotations'] if a['image_id'] in ids]
        assert part['annotations'] == expected
        assert part['categories'] == coco['categories']


def test_split_is_reproducible_and_folds_differ(coco):
    a = split_coco(coco, 10, fold=1, seed=0)
    b = split_coco(coco, 10, fold=1, seed=0)
    c = split_coco(coco, 10, fold=2, seed=0)
    assert json.dumps(a) == json.dumps(b)
    assert _ids(a[0]) != _ids(c[0])


@pytest.mark.parametrize('percent', [0, 100, -5, 150, 'ten'])
def test_percent_outside_open_interval_is_refused(coco, percent):
    with pytest.raises(ValueError, match='percent'):
        split_coco(coco, percent)


def test_json_without_images_is_refused(coco):
    with pytest.raises(AnnotationError, match='"images"'):
        split_coco({'annotations': [], 'categories': []}, 10, source='x.json')


def test_annotation_pointing_to_missing_image_is_refused(coco):
    coco['annotations'][0]['image_id'] = 999
    with pytest.raises(AnnotationError, match=r'image ids \[999\]'):
        split_coco(coco, 10, source='train.json')


def test_file_names_follow_mmdet():
    assert split_file_names('instances_train2017', 1, 10) == (
        'instances_train2017.1@10.json',
        'instances_train2017.1@10-unlabeled.json')
    assert split_file_names('x', 2, 0.5)[0] == 'x.2@0.5.json'


def test_cli_writes_identical_files_for_same_seed(tmp_path, coco, repo_root):
    src = tmp_path / 'instances_train2017.json'
    src.write_text(json.dumps(coco))
    outs = []
    for run in ('a', 'b'):
        out = tmp_path / run
        subprocess.run([
            sys.executable,
            osp.join(repo_root, 'tools/dataset_converters/split_coco_semi.py'),
            str(src), '--out-dir',
            str(out), '--percents', '5', '10', '--folds', '1', '2'
        ],
                       check=True,
                       capture_output=True)
        outs.append(out)
    names = sorted(p.name for p in outs[0].iterdir())
    assert names == sorted(
        f'instances_train2017.{f}@{p}{s}.json' for f in (1, 2)
        for p in (5, 10) for s in ('', '-unlabeled'))
    for name in names:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes()


def test_cli_rejects_bad_percent_before_reading(tmp_path, repo_root):
    result = subprocess.run([
        sys.executable,
        osp.join(repo_root, 'tools/dataset_converters/split_coco_semi.py'),
        str(tmp_path / 'missing.json'), '--percents', '100'
    ],
                            capture_output=True,
                            text=True)
    assert result.returncode != 0
    assert 'percent must be in (0, 100)' in result.stderr


def test_paper_cityscapes_lists_are_packaged():
    sizes = {p: len(read_cityscapes_list(p)) for p in (5, 10, 20, 30)}
    assert sizes == {5: 144, 10: 296, 20: 592, 30: 888}
    assert read_cityscapes_list(5)[0] == 'bremen_000041_000019'


def _cityscapes_like(keys):
    images = [{
        'id': i + 1,
        'file_name': f'{k.split("_")[0]}/{k}_leftImg8bit.png',
        'height': 1024,
        'width': 2048
    } for i, k in enumerate(keys)]
    anns = [{
        'id': i + 1,
        'image_id': i + 1,
        'category_id': 1,
        'segmentation': [[0, 0, 4, 0, 4, 4, 0, 4]],
        'bbox': [0, 0, 4, 4],
        'area': 16,
        'iscrowd': 0
    } for i in range(len(keys))]
    return {
        'images': images,
        'annotations': anns,
        'categories': [{
            'id': 1,
            'name': 'person'
        }]
    }


def test_cityscapes_split_uses_the_listed_frames():
    listed = read_cityscapes_list(5)[:3]
    others = ['aachen_000000_000019', 'zurich_000001_000019']
    data = _cityscapes_like(listed + others)
    labeled, unlabeled = split_cityscapes(data, listed)
    assert [cityscapes_frame_key(i['file_name'])
            for i in labeled['images']] == listed
    assert len(unlabeled['images']) == 2
    assert {a['image_id'] for a in labeled['annotations']} == {1, 2, 3}


def test_cityscapes_split_refuses_foreign_json():
    data = _cityscapes_like(['aachen_000000_000019'])
    with pytest.raises(AnnotationError, match='not among its images'):
        split_cityscapes(data, ['bremen_000041_000019'], source='val.json')
