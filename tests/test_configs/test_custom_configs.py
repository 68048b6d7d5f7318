# Copyright (c) s4m-mm authors. All rights reserved.
"""The custom-data template: settings in, every dependent value out, and
clear errors where settings and files disagree."""
import json
import os
import os.path as osp
import shutil

import pytest
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed

from mmdet.registry import DATASETS, MODELS
from s4m_mm.datasets import AnnotationError
from s4m_mm.engine.runner import apply_custom_settings
from s4m_mm.models.detectors import multi_branch_preprocessor
from s4m_mm.testing import get_config_path, write_own_data

CUSTOM = get_config_path('s4m/custom')
TEACHER = osp.join(CUSTOM, 's4m-teacher_effl0_custom.py')
STUDENT = osp.join(CUSTOM, 's4m-student_effl0_custom.py')
STUDENT_R50 = osp.join(CUSTOM, 's4m-student_r50_custom.py')


@pytest.fixture(scope='module')
def three_classes(tmp_path_factory):
    """Own data with 3 classes, at a non-square 64 x 96 input, SAM 2."""
    root = str(tmp_path_factory.mktemp('three'))
    settings = write_own_data(root, classes=('a', 'b', 'c'), seed=5)
    settings.update(
        input_size=(64, 96),
        sam_type='sam2_hiera_t',
        sam_checkpoint='weights/sam2_hiera_tiny.pt',
        teacher_checkpoint='work_dirs/teacher/iter_9.pth')
    return settings


def resolved(path, settings):
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(dict(custom_settings=settings))
    init_default_scope('mmdet')
    return apply_custom_settings(cfg)


def types(node, wanted):
    """Every dict of a type in ``wanted`` in a config tree."""
    found = []
    if isinstance(node, dict):
        if node.get('type') in wanted:
            found.append(node)
        for value in node.values():
            found += types(value, wanted)
    elif isinstance(node, (list, tuple)):
        for value in node:
            found += types(value, wanted)
    return found


@pytest.mark.parametrize('path', [TEACHER, STUDENT, STUDENT_R50],
                         ids=osp.basename)
def test_every_dependent_value_follows_the_settings(path, three_classes):
    cfg = resolved(path, three_classes)
    tree = cfg.to_dict()
    assert '${' not in json.dumps(tree, default=str)
    model = tree['model']
    heads = types(model, ('Mask2FormerHead', 'SAMDistillMask2FormerHead'))
    assert len(heads) == 1
    assert heads[0]['num_things_classes'] == 3
    assert heads[0]['loss_cls']['class_weight'] == [1.0, 1.0, 1.0, 0.1]
    assert types(model, ('MaskFormerFusionHead', ))[0]['num_things_classes'] \
        == 3
    # (w, h) for mmdet's RandomCrop and Resize, (h, w) for the batch pad
    crops = types(tree['train_dataloader'], ('RandomCrop', ))
    assert crops and all(tuple(c['crop_size']) == (96, 64) for c in crops)
    pads = types(model, ('BatchFixedSizePad', ))
    assert pads and all(tuple(p['size']) == (64, 96) for p in pads)
    datasets = types(tree, ('S4MCocoDataset', 'UnlabeledImageFolder'))
    assert {tuple(d['metainfo']['classes']) for d in datasets} == {
        ('a', 'b', 'c')
    }
    assert cfg.val_evaluator.ann_file == osp.join(three_classes['data_root'],
                                                  'annotations/val.json')
    sam = cfg.model.refiner.sam if 'student' in path else cfg.model.sam
    assert dict(sam) == dict(
        type='SAM2Adapter',
        sam_type='sam2_hiera_t',
        checkpoint='weights/sam2_hiera_tiny.pt')
    if 'student' in path:
        assert cfg.default_hooks.teacher_schedule.teacher_checkpoint == \
            'work_dirs/teacher/iter_9.pth'
        unlabeled = cfg.train_dataloader.dataset.datasets[1]
        assert unlabeled.type == 'UnlabeledImageFolder'
        assert unlabeled.data_prefix.img == 'unlabeled/'


@pytest.mark.parametrize('path', [
    STUDENT,
    osp.join(CUSTOM, 's4m-student_rtmdet-ins_s_custom.py'),
    osp.join(CUSTOM, 's4m-student_mask-rcnn_r50_fpn_custom.py')
], ids=osp.basename)
def test_the_built_batch_has_the_input_size(path, tmp_path):
    """A labeled and an unlabeled image through the student's built
    pipelines and data preprocessor: every branch a batch of exactly
    64 x 96, its views padded to it (the unlabeled ones need masks to pad,
    empty ones, before their pseudo-labels come), every mask at the batch
    size (RTMDet's own preprocessor pads no masks); Mask R-CNN's batch is
    padded to a multiple of 32 only, as mmdet's."""
    settings = write_own_data(
        str(tmp_path), classes=('a', 'b', 'c'), size=(32, 32), seed=5)
    settings.update(
        input_size=(64, 96), sam_type='vit_b', teacher_checkpoint='t.pth')
    cfg = resolved(path, settings)
    set_random_seed(1)  # a draw of views smaller than the input
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    preprocessor = MODELS.build(
        multi_branch_preprocessor(cfg.model.detector))
    items = [dataset[0], dataset[4]]  # labeled, unlabeled
    views = [v for item in items for v in item['data_samples'].values() if v]
    # the drawn views are smaller than the input: the pad does the work
    assert all(v.img_shape[0] < 64 or v.img_shape[1] < 96 for v in views)
    out = preprocessor(pseudo_collate(items), training=True)
    fixed = cfg.model.detector.type != 'MaskRCNN'
    for branch, inputs in out['inputs'].items():
        if fixed:
            assert tuple(inputs.shape[-2:]) == (64, 96), branch
        else:
            assert inputs.shape[-2] % 32 == 0 and inputs.shape[-1] % 32 == 0
        for sample in out['data_samples'][branch]:
            assert tuple(sample.gt_instances.masks.masks.shape[-2:]) == \
                tuple(inputs.shape[-2:]), branch


def test_classes_and_json_categories_must_agree(own_data, tmp_path):
    with pytest.raises(AnnotationError,
                       match=r"classes \['ring'\] of custom_settings.classes "
                       'are not among'):
        resolved(TEACHER, dict(own_data, classes=('disk', 'blob', 'ring')))
    with pytest.raises(AnnotationError,
                       match=r"labeled.json: the file's categories "
                       r"\['blob'\] are not in custom_settings.classes"):
        resolved(TEACHER, dict(own_data, classes=('disk', )))
    with pytest.raises(ValueError, match='distinct class names'):
        resolved(TEACHER, dict(own_data, classes=('disk', 'disk')))


def test_bad_settings_are_named(own_data):
    with pytest.raises(ValueError,
                       match=r"unknown custom_settings keys \['num_class'\]"):
        resolved(TEACHER, dict(own_data, num_class=2))
    with pytest.raises(ValueError, match=r'input_size.*multiples of 32.*'
                       r'\(64, 100\)'):
        resolved(TEACHER, dict(own_data, input_size=(64, 100)))
    with pytest.raises(ValueError, match=r"needs \['teacher_checkpoint'\]"):
        resolved(STUDENT, own_data)
    settings = dict(own_data, teacher_checkpoint='t.pth')
    with pytest.raises(FileNotFoundError,
                       match=r'unlabeled_img: the folder .*nowhere'):
        resolved(STUDENT, dict(settings, unlabeled_img='nowhere/'))
    with pytest.raises(ValueError, match="sam_type='vit_x' is not"):
        resolved(TEACHER, dict(own_data, sam_type='vit_x'))


def test_placeholders_need_settings(tmp_path):
    cfg = Config.fromfile(TEACHER)
    with pytest.raises(ValueError, match='defines no custom_settings'):
        apply_custom_settings(cfg)
    cfg.merge_from_dict(dict(model=dict(sd_chunk='${chunk}')))
    with pytest.raises(ValueError, match=r'unknown placeholders.*sd_chunk'):
        apply_custom_settings(cfg)
    plain = Config(dict(model=dict(type='Mask2Former')))
    assert apply_custom_settings(plain) is plain


def test_an_empty_or_broken_unlabeled_folder_is_refused(own_data, tmp_path):
    root = str(tmp_path / 'data')
    shutil.copytree(own_data['data_root'], root)
    settings = dict(own_data, data_root=root + '/', teacher_checkpoint='t')
    folder = osp.join(root, 'unlabeled')
    broken = osp.join(folder, 'img_005.png')
    with open(broken, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n cut short')
    cfg = resolved(STUDENT, settings)
    with pytest.raises(ValueError, match=f'{broken}: not a readable image'):
        DATASETS.build(cfg.train_dataloader.dataset)
    for name in os.listdir(folder):
        os.remove(osp.join(folder, name))
    cfg = resolved(STUDENT, settings)
    with pytest.raises(ValueError, match=f'{folder}/: no images in the '
                       'folder'):
        DATASETS.build(cfg.train_dataloader.dataset)


#: the custom templates of the students that are not Mask2Former, and of
#: their supervised teachers (no SAM in a teacher)
BOX_TEMPLATES = [
    'mask-rcnn_r50_fpn_custom.py', 's4m-student_mask-rcnn_r50_fpn_custom.py',
    'rtmdet-ins_s_custom.py', 's4m-student_rtmdet-ins_s_custom.py'
]


@pytest.mark.parametrize('name', BOX_TEMPLATES)
def test_box_templates_follow_the_settings(name, three_classes):
    """Mask R-CNN and RTMDet-Ins templates: the class count of every head,
    the crops (and RTMDet's padded batch) at the input size, the student's
    SAM, teacher checkpoint and thresholds from the settings."""
    path = osp.join(CUSTOM, name)
    cfg = resolved(path, three_classes)
    tree = cfg.to_dict()
    assert '${' not in json.dumps(tree, default=str)
    detector = cfg.model.get('detector', cfg.model)
    if detector.type == 'MaskRCNN':
        assert detector.roi_head.bbox_head.num_classes == 3
        assert detector.roi_head.mask_head.num_classes == 3
    else:
        assert detector.type == 'RTMDet'
        assert detector.bbox_head.num_classes == 3
        pads = types(dict(detector.data_preprocessor), ('BatchFixedSizePad', ))
        assert pads and all(tuple(p['size']) == (64, 96) for p in pads)
    crops = types(tree['train_dataloader'], ('RandomCrop', ))
    assert crops and all(tuple(c['crop_size']) == (96, 64) for c in crops)
    datasets = types(tree, ('S4MCocoDataset', 'UnlabeledImageFolder'))
    assert {tuple(d['metainfo']['classes']) for d in datasets} == {
        ('a', 'b', 'c')
    }
    if 'student' in name:
        assert dict(cfg.model.refiner.sam) == dict(
            type='SAM2Adapter',
            sam_type='sam2_hiera_t',
            checkpoint='weights/sam2_hiera_tiny.pt')
        assert cfg.model.refiner.point_sampling == 'in_mask'
        assert cfg.model.pseudo_labeler.type == 'PredictionPseudoLabeler'
        # mmdet soft teacher's cls_pseudo_thr for Mask R-CNN; a choice for
        # RTMDet's quality-focal scores
        assert cfg.model.semi_train_cfg.score_thr == (
            0.9 if detector.type == 'MaskRCNN' else 0.5)
        assert cfg.default_hooks.teacher_schedule.teacher_checkpoint == \
            'work_dirs/teacher/iter_9.pth'
        assert cfg.train_dataloader.dataset.datasets[1].type == \
            'UnlabeledImageFolder'
    else:
        assert 'sam' not in cfg.model


@pytest.mark.parametrize('name', BOX_TEMPLATES)
def test_masks_of_unequal_images_are_padded_to_the_batch(name, three_classes):
    """A labeled batch of a full-size image and a smaller one (a crop of a
    downscaled image): both masks come out at the batch's size. RTMDet's
    own preprocessor pads no masks (its recipe pads every image in the
    pipeline) and the fixed-size pad has nothing to do when one image
    already has the input size: the templates pad masks themselves."""
    import numpy as np
    import torch
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    cfg = resolved(osp.join(CUSTOM, name), three_classes)
    detector = cfg.model.get('detector', cfg.model)
    preprocessor = MODELS.build(detector.data_preprocessor)
    inputs, samples = [], []
    for h, w in ((64, 96), (40, 50)):
        inputs.append(torch.randint(0, 255, (3, h, w), dtype=torch.uint8))
        masks = np.zeros((1, h, w), dtype=np.uint8)
        masks[0, :10, :10] = 1
        sample = DetDataSample(metainfo=dict(img_shape=(h, w)))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([[0., 0., 10., 10.]]),
            labels=torch.tensor([0]),
            masks=BitmapMasks(masks, h, w))
        samples.append(sample)
    out = preprocessor(dict(inputs=inputs, data_samples=samples),
                       training=True)
    size = tuple(out['inputs'].shape[-2:])
    for sample in out['data_samples']:
        assert (sample.gt_instances.masks.height,
                sample.gt_instances.masks.width) == size, name
