# Copyright (c) s4m-mm authors. All rights reserved.
"""Seconds-per-iteration variants of the demo students (S4M stage 2) on
the synthetic fixture, for the tests that run them end to end through
tools/train.py: 64 px images, a random one-block vit_b SAM at 64 px, a
random stage-1 teacher of the same architecture as the student, and a tiny
student of each kind (``STUDENTS``): a Mask2Former with 10 queries and one
layer per transformer, a Mask R-CNN with 16 channels in FPN and its heads
and few proposals, an RTMDet-Ins with 16 channels in its neck and head."""
import json
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet.registry import MODELS
from s4m_mm.testing import (make_synthetic_coco, prefixed, tiny_sam_cfg,
                            write_synthetic_coco)

STUDENT = 'configs/s4m/demo/s4m-student_effl0_nuclei.py'
MASK_RCNN_STUDENT = 'configs/s4m/demo/s4m-student_mask-rcnn_effl0_nuclei.py'
RTMDET_INS_STUDENT = \
    'configs/s4m/demo/s4m-student_rtmdet-ins_effl0_nuclei.py'
#: the student's config and what makes it tiny, by kind
STUDENTS = {
    'mask2former': (STUDENT, {
        'model.detector.panoptic_head.num_queries': 10,
        'model.detector.panoptic_head.pixel_decoder.encoder.num_layers': 1,
        'model.detector.panoptic_head.transformer_decoder.num_layers': 1,
        'model.detector.train_cfg.num_points': 256,
        'model.detector.test_cfg.max_per_image': 10,
    }),
    'mask_rcnn': (MASK_RCNN_STUDENT, {
        'model.detector.neck.out_channels': 16,
        'model.detector.rpn_head.in_channels': 16,
        'model.detector.rpn_head.feat_channels': 16,
        'model.detector.roi_head.bbox_roi_extractor.out_channels': 16,
        'model.detector.roi_head.bbox_head.in_channels': 16,
        'model.detector.roi_head.bbox_head.fc_out_channels': 32,
        'model.detector.roi_head.mask_roi_extractor.out_channels': 16,
        'model.detector.roi_head.mask_head.in_channels': 16,
        'model.detector.roi_head.mask_head.conv_out_channels': 16,
        'model.detector.train_cfg.rpn_proposal.nms_pre': 200,
        'model.detector.train_cfg.rpn_proposal.max_per_img': 50,
        'model.detector.train_cfg.rcnn.sampler.num': 32,
        'model.detector.test_cfg.rpn.nms_pre': 200,
        'model.detector.test_cfg.rpn.max_per_img': 50,
        'model.detector.test_cfg.rcnn.max_per_img': 10,
        # a random teacher's masks: keep the small ones too
        'model.semi_train_cfg.min_mask_area': 0,
    }),
    'rtmdet_ins': (RTMDET_INS_STUDENT, {
        'model.detector.neck.out_channels': 16,
        'model.detector.bbox_head.in_channels': 16,
        'model.detector.bbox_head.feat_channels': 16,
        'model.detector.test_cfg.nms_pre': 200,
        'model.detector.test_cfg.max_per_img': 10,
        'model.semi_train_cfg.min_mask_area': 0,
    }),
}
IMAGE_SIZE = (64, 64)
#: config keys holding an image size of the pipelines and batch augments
SIZE_KEYS = ('scale', 'crop_size', 'size')


def write_semi_data(root: str, num_images: int = 6,
                    num_val: int = 2) -> None:
    """Labeled, unlabeled (no annotations, its GT in unlabeled_gt.json)
    and val (the first ``num_val`` images) splits of synthetic 64 px
    nuclei under ``root``."""
    write_synthetic_coco(root, ann_name='labeled.json',
                         num_images=num_images, size=IMAGE_SIZE,
                         classes=('nucleus', ), seed=2)
    coco, _ = make_synthetic_coco(num_images=num_images, size=IMAGE_SIZE,
                                  classes=('nucleus', ), seed=2)
    val_ids = {image['id'] for image in coco['images'][:num_val]}
    val = dict(
        coco,
        images=[im for im in coco['images'] if im['id'] in val_ids],
        annotations=[a for a in coco['annotations']
                     if a['image_id'] in val_ids])
    splits = dict(val=val, unlabeled=dict(coco, annotations=[]),
                  unlabeled_gt=coco)
    for name, content in splits.items():
        with open(osp.join(root, 'annotations', f'{name}.json'), 'w') as f:
            json.dump(content, f)


def _shrink_image_sizes(node) -> None:
    """Every ``scale`` / ``crop_size`` / ``size`` pair in the config tree
    becomes ``IMAGE_SIZE``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SIZE_KEYS and isinstance(value, (tuple, list)) and \
                    len(value) == 2:
                node[key] = IMAGE_SIZE
            else:
                _shrink_image_sizes(value)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _shrink_image_sizes(item)


def small_student_config(repo_root: str, data_root: str, out_dir: str,
                         burn_in: int, kind: str = 'mask2former') -> str:
    """Write the small student config of ``kind`` (a key of ``STUDENTS``)
    and a random teacher checkpoint for it into ``out_dir``.

    Returns:
        str: the config's path.
    """
    teacher_ckpt = osp.join(out_dir, 'teacher.pth')
    config, tiny = STUDENTS[kind]
    cfg = Config.fromfile(osp.join(repo_root, config))
    root = data_root.rstrip('/') + '/'
    cfg.merge_from_dict({
        'train_dataloader.dataset.datasets.0.data_root': root,
        'train_dataloader.dataset.datasets.1.data_root': root,
        'val_dataloader.dataset.data_root': root,
        'test_dataloader.dataset.data_root': root,
        'val_evaluator.ann_file': root + 'annotations/val.json',
        'test_evaluator.ann_file': root + 'annotations/val.json',
        **prefixed(tiny_sam_cfg(), 'model.refiner.sam'),
        'model.semi_train_cfg.score_thr': 0.0,  # random teacher: keep some
        'model.unsup_batch_augments.arp.min_area': 0,
        **tiny,
        'randomness': dict(seed=0, deterministic=True),
        'default_hooks.logger.interval': 1,
        'default_hooks.teacher_schedule.teacher_checkpoint': teacher_ckpt,
        'default_hooks.teacher_schedule.burn_in': burn_in,
    })
    _shrink_image_sizes(cfg._cfg_dict)
    path = osp.join(out_dir, 'small_student.py')
    cfg.dump(path)

    init_default_scope('mmdet')
    detector = Config.fromfile(path).model.detector
    if 'checkpoint' in detector.backbone:  # the demo's ImageNet weights
        detector.backbone.checkpoint = None
    torch.manual_seed(0)
    teacher = MODELS.build(detector)
    torch.save({'state_dict': teacher.state_dict(), 'meta': {}},
               teacher_ckpt)
    return path
