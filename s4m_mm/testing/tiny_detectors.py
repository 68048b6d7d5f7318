# Copyright (c) s4m-mm authors. All rights reserved.
"""Tiny S4M students of every kind for in-process tests: the demo's
student configs with a random backbone, no SAM and no batch pad, for
64 px batches (:mod:`s4m_mm.testing.semi_batches`)."""
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope

from ._utils import get_config_path

#: student kind -> its demo S4M config
DEMO_STUDENTS = dict(
    mask2former='s4m/demo/s4m-student_effl0_nuclei.py',
    mask_rcnn='s4m/demo/s4m-student_mask-rcnn_effl0_nuclei.py',
    rtmdet_ins='s4m/demo/s4m-student_rtmdet-ins_effl0_nuclei.py')


def tiny_student_cfg(kind: str) -> ConfigDict:
    """The ``model`` of the demo S4M student ``kind`` (a key of
    :data:`DEMO_STUDENTS`) with a random backbone (no checkpoint read),
    no batch pad, no refiner and, for Mask2Former, 6 queries and one layer
    per transformer."""
    init_default_scope('mmdet')
    model = Config.fromfile(get_config_path(DEMO_STUDENTS[kind])).model
    det = model.detector
    det.backbone.checkpoint = None
    det.data_preprocessor.batch_augments = None
    if kind == 'mask2former':
        det.panoptic_head.num_queries = 6
        det.panoptic_head.pixel_decoder.encoder.num_layers = 1
        det.panoptic_head.transformer_decoder.num_layers = 1
        det.train_cfg.num_points = 64
        det.test_cfg.max_per_image = 6
    model.refiner = None
    return model
