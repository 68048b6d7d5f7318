# Copyright (c) s4m-mm authors. All rights reserved.
"""Bad inputs stop with a message naming the file, key or value at fault:
corrupt images, bad polygons, unknown categories, SAM and teacher
checkpoints of another architecture."""
import copy
import json
import os.path as osp
import re
import shutil
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from torch import nn

from mmdet.registry import DATASETS, MODELS
from s4m_mm.datasets import AnnotationError, validate_coco_dict
from s4m_mm.engine.hooks import TeacherScheduleHook
from s4m_mm.models.sam import LITE_MEDSAM_CHECKPOINT, SAMAdapter
from s4m_mm.models.sam.checkpoints import load_sam_checkpoint
from s4m_mm.models.sam.sam1 import build_vit_sam
from s4m_mm.testing import make_synthetic_coco, write_synthetic_coco
from s4m_mm.utils import resolve_asset_path

DEMO = 'configs/s4m/demo/mask2former_effl0_nuclei_sup.py'


@pytest.fixture
def nuclei_root(tmp_path):
    """4 synthetic 64 px one-class images as the demo's labeled split."""
    root = str(tmp_path / 'nuclei')
    write_synthetic_coco(root, ann_name='labeled.json', num_images=4,
                         classes=('nucleus', ), seed=3)
    return root


def demo_train_dataset(repo_root, root):
    """The demo config's training dataset (NucleiDataset with its train
    pipeline) over ``root``."""
    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(repo_root, DEMO))
    cfg.train_dataloader.dataset.data_root = root + '/'
    return DATASETS.build(cfg.train_dataloader.dataset)


def image_path(root, index):
    return osp.join(root, 'images', f'img_{index:03d}.png')


# a. corrupt image files


@pytest.mark.parametrize('corruption', ['garbage', 'truncated'])
def test_corrupt_image_in_training_pipeline_names_the_file(
        nuclei_root, repo_root, corruption):
    bad = image_path(nuclei_root, 2)
    with open(bad, 'rb') as f:
        data = f.read()
    with open(bad, 'wb') as f:
        f.write(b'\x00garbage, not a png\n' * 20 if corruption == 'garbage'
                else data[:len(data) // 2])
    dataset = demo_train_dataset(repo_root, nuclei_root)
    paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    good = paths.index(image_path(nuclei_root, 1))
    assert dataset[good]['inputs'].shape[0] == 3  # the others load
    with pytest.raises(Exception) as err:
        dataset[paths.index(bad)]
    assert bad in str(err.value)


def test_empty_image_file_is_refused_naming_it(nuclei_root, repo_root):
    bad = image_path(nuclei_root, 3)
    open(bad, 'wb').close()
    with pytest.raises(ValueError) as err:
        demo_train_dataset(repo_root, nuclei_root)
    assert bad in str(err.value) and 'empty (0 bytes)' in str(err.value)
    assert 'labeled.json' in str(err.value)


# b. bad polygons


def coco_with_polygon(polygon, width=64, height=48):
    """One image and one annotation (id 7, image id 5) with ``polygon``."""
    return {
        'images': [{'id': 5, 'file_name': 'a.png', 'width': width,
                    'height': height}],
        'annotations': [{'id': 7, 'image_id': 5, 'category_id': 1,
                         'segmentation': [polygon], 'iscrowd': 0,
                         'bbox': [0, 0, 1, 1], 'area': 1}],
        'categories': [{'id': 1, 'name': 'nucleus'}],
    }


def refused(data, *fragments):
    with pytest.raises(AnnotationError) as err:
        validate_coco_dict(data, 'ann/train.json')
    msg = str(err.value)
    for fragment in ('ann/train.json', 'annotation id 7', 'image id 5') + \
            fragments:
        assert fragment in msg, (fragment, msg)
    return msg


@pytest.mark.parametrize('polygon,value', [
    ([], '0 coordinates []'),
    ([10, 10, 20, 20], '4 coordinates [10, 10, 20, 20]'),
    ([10, 10, 20, 20, 30], '5 coordinates'),
])
def test_polygon_with_fewer_than_3_points_is_refused(polygon, value):
    refused(coco_with_polygon(polygon), value, 'needs an even number >= 6')


def test_empty_segmentation_list_is_refused():
    data = coco_with_polygon([0, 0, 1, 0, 1, 1])
    data['annotations'][0]['segmentation'] = []
    refused(data, 'empty segmentation []')


def test_flat_coordinate_list_is_refused():
    data = coco_with_polygon([0, 0, 1, 0, 1, 1])
    data['annotations'][0]['segmentation'] = [0, 0, 1, 0, 1, 1]
    refused(data, 'segmentation[0] is 0', '[[x1, y1, x2, y2, ...], ...]')


@pytest.mark.parametrize('coord', [None, '3', float('nan'), float('inf')])
def test_non_finite_coordinates_are_refused(coord):
    refused(coco_with_polygon([0, 0, 10, coord, 10, 10]),
            f'non-numeric or non-finite coordinate: {coord!r} at index 3')


@pytest.mark.parametrize('polygon,fragment', [
    ([10, 10, 66.5, 10, 10, 30], 'x = 66.5'),
    ([-2, 10, 20, 10, 10, 30], 'x = -2'),
    ([10, 10, 20, 10, 10, 49.5], 'y = 49.5'),
    ([10, -1.5, 20, 10, 10, 30], 'y = -1.5'),
])
def test_polygon_outside_the_image_is_refused(polygon, fragment):
    msg = refused(coco_with_polygon(polygon), fragment, '64x48 px', "'a.png'",
                  'at most 1.0 px outside')
    assert ('[0, 64]' if 'x =' in fragment else '[0, 48]') in msg


def test_polygon_on_or_within_1px_of_the_border_is_accepted():
    # a mask over the whole image: corners at (0, 0) and (width, height)
    validate_coco_dict(coco_with_polygon([0, 0, 64, 0, 64, 48, 0, 48]))
    validate_coco_dict(coco_with_polygon([-1, -0.5, 65, 0, 64.9, 49]))
    # ... and no further
    refused(coco_with_polygon([-1.01, 0, 10, 0, 10, 10]), 'x = -1.01')
    refused(coco_with_polygon([0, 0, 10, 49.01, 10, 10]), 'y = 49.01')
    # the bounds check can be turned off
    validate_coco_dict(coco_with_polygon([0, 0, 640, 0, 640, 480]),
                       polygon_margin=None)


def test_rle_of_another_size_than_the_image_is_refused():
    data = coco_with_polygon([0, 0, 1, 0, 1, 1])
    data['annotations'][0]['segmentation'] = {'size': [64, 48],
                                              'counts': 'PX04'}
    refused(data, '(h, w) = (64, 48)', "'a.png' is 48x64")


def test_dataset_refuses_an_out_of_bounds_polygon_file(nuclei_root,
                                                       repo_root):
    path = osp.join(nuclei_root, 'annotations', 'labeled.json')
    with open(path) as f:
        data = json.load(f)
    ann = data['annotations'][1]
    ann['segmentation'] = [[1, 1, 70, 1, 30, 30]]  # images are 64 px wide
    with open(path, 'w') as f:
        json.dump(data, f)
    with pytest.raises(AnnotationError) as err:
        demo_train_dataset(repo_root, nuclei_root)
    msg = str(err.value)
    assert path in msg and 'x = 70' in msg
    assert f'annotation id {ann["id"]} (image id {ann["image_id"]})' in msg


def test_rle_of_the_image_size_is_accepted():
    data, _ = make_synthetic_coco(num_images=3, size=(48, 64))
    validate_coco_dict(data)
    # the same file with one RLE of the transposed size is not
    ann = data['annotations'][0]
    assert ann['segmentation']['size'] == [48, 64]
    ann['segmentation']['size'] = [64, 48]
    with pytest.raises(AnnotationError, match=r'\(h, w\) = \(64, 48\)'):
        validate_coco_dict(data)


# c. a category of the file that is not a class of the config


def test_category_outside_config_classes_names_id_and_file(
        synthetic_coco_dir, tmp_path):
    root = str(tmp_path / 'coco')
    shutil.copytree(synthetic_coco_dir, root)
    with pytest.raises(AnnotationError) as err:
        DATASETS.build(
            dict(type='S4MCocoDataset', data_root=root,
                 ann_file='annotations/train.json',
                 data_prefix=dict(img='images/'),
                 metainfo=dict(classes=('disk', )), pipeline=[]))
    msg = str(err.value)
    assert osp.join(root, 'annotations/train.json') in msg
    assert 'category ids [2]' in msg  # 'blob', id 2 in the file
    assert "['disk']" in msg and 'ignore_extra_categories' in msg


# d. a SAM checkpoint of another variant


def test_vit_b_checkpoint_given_as_vit_l_names_file_and_variants(tmp_path):
    path = str(tmp_path / 'sam_small_vit_b.pth')
    small_b = build_vit_sam('vit_b', img_size=64, encoder_depth=1)
    torch.save(small_b.state_dict(), path)
    small_l = build_vit_sam('vit_l', img_size=64, encoder_depth=1)
    with pytest.raises(RuntimeError) as err:
        load_sam_checkpoint(small_l, path, 'vit_l')
    msg = str(err.value)
    assert path in msg and "sam_type='vit_l'" in msg
    assert 'holds SAM 1 vit_b (embed_dim 768, 1 blocks)' in msg
    assert 'image_encoder.pos_embed (1, 4, 4, 768) vs model (1, 4, 4, ' \
        '1024)' in msg


def test_lite_medsam_checkpoint_given_as_vit_b_names_file_and_variants():
    path = resolve_asset_path(LITE_MEDSAM_CHECKPOINT)
    with pytest.raises(RuntimeError) as err:
        SAMAdapter('vit_b', checkpoint=path)
    msg = str(err.value)
    assert path in msg and "sam_type='vit_b'" in msg
    assert 'holds LiteMedSAM (TinyViT encoder)' in msg
    assert 'missing keys: image_encoder.pos_embed' in msg
    assert re.search(r'292 unexpected keys: image_encoder\.patch_embed\.seq'
                     r'.*\(292 in all\)', msg)


# e. a teacher checkpoint of another Mask2Former


def build_demo_mask2former(repo_root, **head):
    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(repo_root, DEMO))
    cfg.model.backbone.checkpoint = None
    cfg.model.panoptic_head.update(head)
    return MODELS.build(cfg.model)


class StudentTeacher(nn.Module):

    def __init__(self, model):
        super().__init__()
        self.student, self.teacher = model, copy.deepcopy(model)


def test_teacher_checkpoint_of_another_mask2former_names_file_and_keys(
        repo_root, tmp_path):
    other = build_demo_mask2former(repo_root, num_queries=20)
    path = str(tmp_path / 'teacher_20_queries.pth')
    torch.save({'state_dict': other.state_dict(), 'meta': {}}, path)
    pair = StudentTeacher(build_demo_mask2former(repo_root))
    hook = TeacherScheduleHook(path, burn_in=1)
    runner = SimpleNamespace(model=pair, iter=0,
                             logger=MMLogger.get_instance('test_bad_inputs'))
    with pytest.raises(RuntimeError) as err:
        hook.before_train(runner)
    msg = str(err.value)
    assert path in msg and 'does not fit the teacher (Mask2Former)' in msg
    assert '2 shape mismatches' in msg
    assert 'panoptic_head.query_embed.weight: checkpoint (20, 256) vs ' \
        'teacher (50, 256)' in msg
    assert 'panoptic_head.query_feat.weight: checkpoint (20, 256)' in msg
    # a checkpoint of another backbone: many keys, the list is cut
    state = {f'backbone.layer{i}.weight': torch.zeros(1) for i in range(9)}
    state.update((k, v) for k, v in other.state_dict().items()
                 if not k.startswith('backbone.'))
    torch.save({'state_dict': state}, path)
    with pytest.raises(RuntimeError) as err:
        hook.before_train(runner)
    msg = str(err.value)
    assert re.search(r'\d+ missing keys \[\'backbone\.[^,]+, [^,]+, [^,]+\]',
                     msg), msg
    assert "9 unexpected keys ['backbone.layer0.weight', " \
        "'backbone.layer1.weight', 'backbone.layer2.weight']" in msg
    assert 'layer3' not in msg
