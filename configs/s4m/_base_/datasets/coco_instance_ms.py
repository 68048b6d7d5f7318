# COCO 2017 for a box-based student's stage 1 (Mask R-CNN): the labeled
# part of a split of train2017 with the labeled view of mmdet's
# semi-supervised COCO recipe, mmdet::_base_/datasets/semi_coco_detection.py
# (sup_pipeline: resize to a random scale between (1333, 400) and
# (1333, 1200) keeping the ratio, flip, one RandAugment colour op,
# boxes < 0.01 px dropped), with the instance masks; images of fewer than
# 32 px dropped (its labeled_dataset filter_cfg). uint8 images, as
# mmdet's (RandAugment's ops take uint8). Val: mmdet's test view
# (1333 x 800, the same as coco_instance.py's).
_base_ = './coco_instance.py'

load_image = dict(type='LoadImageFromFile', backend_args=_base_.backend_args)
scale = [(1333, 400), (1333, 1200)]
color_space = [
    [dict(type='ColorTransform')],
    [dict(type='AutoContrast')],
    [dict(type='Equalize')],
    [dict(type='Sharpness')],
    [dict(type='Posterize')],
    [dict(type='Solarize')],
    [dict(type='Color')],
    [dict(type='Contrast')],
    [dict(type='Brightness')],
]
# the geometry the unlabeled views of stage 2 share
ms_resize_flip = [
    dict(type='RandomResize', scale=scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    load_image, _base_.load_annotations, *ms_resize_flip,
    dict(type='RandAugment', aug_space=color_space, aug_num=1),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='PackDetInputs')
]
test_pipeline = [
    load_image,
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    _base_.load_annotations, _base_.pack_test
]
train_dataloader = dict(
    dataset=dict(
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
