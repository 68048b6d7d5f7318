# Cityscapes instance segmentation (8 thing classes) with the S4M paper's
# labeled frames, evaluated on val with COCO-style mask AP.
#
# Prepare: Cityscapes (leftImg8bit, gtFine) from https://www.cityscapes-dataset.com
# in data/cityscapes, convert it with mmdet's
# .mim/tools/dataset_converters/cityscapes.py, then
#   python tools/dataset_converters/split_cityscapes_semi.py \
#       data/cityscapes/annotations/instancesonly_filtered_gtFine_train.json
dataset_type = 'S4MCityscapesDataset'
data_root = 'data/cityscapes/'
backend_args = None
crop_size = (512, 1024)
split_hint = (
    'Cityscapes goes in data/cityscapes (https://www.cityscapes-dataset.com); '
    'convert it with mmdet\'s tools/dataset_converters/cityscapes.py and '
    'create the split with `python tools/dataset_converters/'
    'split_cityscapes_semi.py data/cityscapes/annotations/'
    'instancesonly_filtered_gtFine_train.json`')

# As the paper code's detectron2 pipeline: shorter side drawn from
# 512..2048 (step 0.1 x 1024), longer side <= 4096, SSD colour jitter, flip,
# crop 512 x 1024.
train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        scales=[(4096, int(x * 0.1 * 1024)) for x in range(5, 21)],
        keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_size=crop_size,
        crop_type='absolute',
        recompute_bbox=True,
        allow_negative_crop=True),
    dict(type='PhotoMetricDistortion'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-5, 1e-5), by_mask=True),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]

labeled_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file='annotations/instancesonly_filtered_gtFine_train.1@5.json',
    data_prefix=dict(img='leftImg8bit/train/'),
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    missing_hint=split_hint,
    pipeline=train_pipeline,
    backend_args=backend_args)
unlabeled_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file='annotations/instancesonly_filtered_gtFine_train.1@5'
    '-unlabeled.json',
    data_prefix=dict(img='leftImg8bit/train/'),
    filter_cfg=dict(filter_empty_gt=False),
    missing_hint=split_hint,
    backend_args=backend_args)

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
        ann_file='annotations/instancesonly_filtered_gtFine_val.json',
        data_prefix=dict(img='leftImg8bit/val/'),
        test_mode=True,
        missing_hint=split_hint,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/instancesonly_filtered_gtFine_val.json',
    metric=['bbox', 'segm'],
    backend_args=backend_args)
test_evaluator = val_evaluator

# Stage 2 (the student): labeled and unlabeled images in one batch, half and
# half (the paper: 16 + 16 over 4 GPUs, i.e. 4 + 4 a GPU). The teacher and
# the student see the same crop; photometric augmentation of the student
# follows ARP inside the model (no SSD colour jitter on unlabeled images).
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
    dict(
        type='RandomChoiceResize',
        scales=[(4096, int(x * 0.1 * 1024)) for x in range(5, 21)],
        keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_size=crop_size,
        crop_type='absolute',
        allow_negative_crop=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='MultiBranch',
        branch_field=branch_field,
        unsup_teacher=dict(type='PackDetInputs', meta_keys=unsup_meta_keys),
        unsup_student=dict(type='PackDetInputs', meta_keys=unsup_meta_keys))
]
semi_batch_size = 8
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
