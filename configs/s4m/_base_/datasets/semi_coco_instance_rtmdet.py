# COCO 2017 for an RTMDet-Ins student's stage 2, with the loader of mmdet's
# semi-supervised COCO recipe (mmdet::_base_/datasets/semi_coco_detection.py):
# 5 images a GPU, 1 labeled : 4 unlabeled (GroupMultiSourceSampler,
# source_ratio [1, 4]), 5 workers. The labeled images take RTMDet-Ins'
# own view without Mosaic and MixUp (the train_pipeline_stage2 of
# mmdet::rtmdet/rtmdet-ins_s_8xb32-300e_coco.py: resize 0.5-2.0 of 640,
# crop 640, HSV jitter, flip, pad to 640 with 114). The unlabeled images
# take its geometry (resize, crop, flip, pad), shared by the teacher and
# the student views (semi_views.py); the strong augmentation is S4M's
# batch augments (ARP, then the strong photometric augmentation, in the
# model). Val: RTMDet's test view (fit into 640, padded to 640).
_base_ = ['./coco_instance.py', './semi_views.py']

load_image = dict(type='LoadImageFromFile', backend_args=_base_.backend_args)
load_annotations = dict(
    type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False)
rtmdet_size = (640, 640)
pad = dict(type='Pad', size=rtmdet_size, pad_val=dict(img=(114, 114, 114)))
resize_crop = [
    dict(
        type='RandomResize',
        scale=rtmdet_size,
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_size=rtmdet_size,
        recompute_bbox=True,
        allow_negative_crop=True),
]
sup_pipeline = [
    load_image, load_annotations, *resize_crop,
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1)),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5), pad, _base_.sup_branch
]
unsup_pipeline = [
    load_image, _base_.load_empty_masks, *resize_crop,
    dict(type='RandomFlip', prob=0.5), pad, _base_.unsup_branches
]
test_pipeline = [
    load_image,
    dict(type='Resize', scale=rtmdet_size, keep_ratio=True), pad,
    load_annotations, _base_.pack_test
]
# images of fewer than 32 px dropped (semi_coco_detection.py's
# labeled_dataset filter_cfg)
labeled_dataset = dict(
    _base_.train_dataloader.dataset,
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    pipeline=sup_pipeline)
unlabeled_dataset = dict(
    _base_.unlabeled_dataset, pipeline=unsup_pipeline)
batch_size = _base_.mmdet_semi_loader.batch_size
train_dataloader = dict(
    _base_.mmdet_semi_loader,
    _delete_=True,
    dataset=dict(
        type='ConcatDataset', datasets=[labeled_dataset, unlabeled_dataset]))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
