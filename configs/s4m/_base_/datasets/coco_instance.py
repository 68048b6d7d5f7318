# COCO 2017 instance segmentation: the labeled part of a split of train2017
# (mmdet's names: semi_anns/instances_train2017.{fold}@{percent}.json) for
# supervised training, val2017 for evaluation.
#
# Prepare: COCO 2017 from https://cocodataset.org in data/coco, then
#   python tools/dataset_converters/split_coco_semi.py \
#       data/coco/annotations/instances_train2017.json \
#       --out-dir data/coco/semi_anns --percents 1 2 5 10
dataset_type = 'S4MCocoDataset'
data_root = 'data/coco/'
backend_args = None
crop_size = (1024, 1024)  # (h, w); square, so RandomCrop's (w, h) agrees
split_hint = (
    'COCO 2017 goes in data/coco (https://cocodataset.org); create the split '
    'with `python tools/dataset_converters/split_coco_semi.py '
    'data/coco/annotations/instances_train2017.json --out-dir '
    'data/coco/semi_anns`')

# Large-scale jitter (Mask2Former's coco_instance_lsj mapper): flip, resize
# by 0.1-2.0 of 1024 keeping the ratio, crop 1024 x 1024; the data
# preprocessor pads the batch to 1024 x 1024.
train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomResize',
        scale=crop_size,
        ratio_range=(0.1, 2.0),
        resize_type='Resize',
        keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_size=crop_size,
        crop_type='absolute',
        recompute_bbox=True,
        allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-5, 1e-5), by_mask=True),
    dict(type='PackDetInputs')
]
# detectron2's test resize: shorter side 800, longer side <= 1333
test_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]

# Images without annotations are dropped (detectron2's
# FILTER_EMPTY_ANNOTATIONS); no minimum image size.
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='semi_anns/instances_train2017.1@1.json',
        data_prefix=dict(img='train2017/'),
        filter_cfg=dict(filter_empty_gt=True),
        missing_hint=split_hint,
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        missing_hint=split_hint,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/instances_val2017.json',
    metric=['bbox', 'segm'],
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator
