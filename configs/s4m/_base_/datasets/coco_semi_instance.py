# COCO 2017 instance segmentation with a labeled / unlabeled split of
# train2017 (mmdet's names: instances_train2017.{fold}@{percent}.json and
# ...-unlabeled.json under semi_anns/), evaluated on val2017.
#
# Prepare: COCO 2017 from https://cocodataset.org in data/coco, then
#   python tools/dataset_converters/split_coco_semi.py \
#       data/coco/annotations/instances_train2017.json \
#       --out-dir data/coco/semi_anns --percents 1 2 5 10
dataset_type = 'S4MCocoDataset'
data_root = 'data/coco/'
backend_args = None
crop_size = (1024, 1024)
split_hint = (
    'COCO 2017 goes in data/coco (https://cocodataset.org); create the split '
    'with `python tools/dataset_converters/split_coco_semi.py '
    'data/coco/annotations/instances_train2017.json --out-dir '
    'data/coco/semi_anns`')

# Large-scale jitter, as mmdet's Mask2Former instance config.
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
test_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]

labeled_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file='semi_anns/instances_train2017.1@1.json',
    data_prefix=dict(img='train2017/'),
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    missing_hint=split_hint,
    pipeline=train_pipeline,
    backend_args=backend_args)
unlabeled_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file='semi_anns/instances_train2017.1@1-unlabeled.json',
    data_prefix=dict(img='train2017/'),
    filter_cfg=dict(filter_empty_gt=False),
    missing_hint=split_hint,
    backend_args=backend_args)

# Stage 1 (the teacher) trains on the labeled part only.
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=labeled_dataset)
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

# Stage 2 (the student): labeled and unlabeled images in one batch, half and
# half (the paper: 12 + 12 over 4 GPUs, i.e. 3 + 3 a GPU). The teacher and
# the student see the same LSJ crop of an unlabeled image; the student's
# strong photometric augmentation follows ARP inside the model.
branch_field = ['sup', 'unsup_teacher', 'unsup_student']
unsup_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'flip', 'flip_direction',
                   'homography_matrix')
sup_pipeline = train_pipeline[:-1] + [
    dict(
        type='MultiBranch',
        branch_field=branch_field,
        sup=dict(type='PackDetInputs'))
]
unsup_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='LoadEmptyAnnotations'),
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
        allow_negative_crop=True),
    dict(
        type='MultiBranch',
        branch_field=branch_field,
        unsup_teacher=dict(type='PackDetInputs', meta_keys=unsup_meta_keys),
        unsup_student=dict(type='PackDetInputs', meta_keys=unsup_meta_keys))
]
semi_batch_size = 6
semi_train_dataloader = dict(
    _delete_=True,
    batch_size=semi_batch_size,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(
        type='MultiSourceSampler',
        batch_size=semi_batch_size,
        source_ratio=[1, 1]),
    dataset=dict(
        type='ConcatDataset',
        datasets=[
            dict(labeled_dataset, pipeline=sup_pipeline),
            dict(unlabeled_dataset, pipeline=unsup_pipeline)
        ]))
