# COCO 2017 for S4M's stage 2: each batch takes labeled and unlabeled
# images of a split half and half. The teacher and the student see the same
# LSJ crop of an unlabeled image (their masks correspond pixel for pixel);
# the student's strong photometric augmentation comes after ARP, inside the
# model (model.unsup_batch_augments), as in the S4M code (no colour
# augmentation on COCO's unlabeled images: ImageDatasetMapper).
_base_ = './coco_instance.py'

branch_field = ['sup', 'unsup_teacher', 'unsup_student']
unsup_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'flip', 'flip_direction',
                   'homography_matrix')
sup_pipeline = _base_.train_pipeline[:-1] + [
    dict(
        type='MultiBranch',
        branch_field=branch_field,
        sup=dict(type='PackDetInputs'))
]
unsup_pipeline = [
    dict(
        type='LoadImageFromFile',
        to_float32=True,
        backend_args=_base_.backend_args),
    # empty masks, so that the batch pad (BatchFixedSizePad, pad_mask) has
    # masks to pad before the pseudo-labels replace them
    dict(type='LoadEmptyAnnotations', with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomResize',
        scale=_base_.crop_size,
        ratio_range=(0.1, 2.0),
        resize_type='Resize',
        keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_size=_base_.crop_size,
        crop_type='absolute',
        allow_negative_crop=True),
    dict(
        type='MultiBranch',
        branch_field=branch_field,
        unsup_teacher=dict(type='PackDetInputs', meta_keys=unsup_meta_keys),
        unsup_student=dict(type='PackDetInputs', meta_keys=unsup_meta_keys))
]

labeled_dataset = dict(_base_.train_dataloader.dataset, pipeline=sup_pipeline)
unlabeled_dataset = dict(
    type=_base_.dataset_type,
    data_root=_base_.data_root,
    ann_file='semi_anns/instances_train2017.1@1-unlabeled.json',
    data_prefix=dict(img='train2017/'),
    filter_cfg=dict(filter_empty_gt=False),
    missing_hint=_base_.split_hint,
    pipeline=unsup_pipeline,
    backend_args=_base_.backend_args)

# 3 labeled + 3 unlabeled images a GPU; the labeled ones repeat by category
# frequency (detectron2's RepeatFactorTrainingSampler, threshold 10), the
# unlabeled ones are drawn uniformly (the S4M code's train_net.py).
batch_size = 6
train_dataloader = dict(
    _delete_=True,
    batch_size=batch_size,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(
        type='RepeatFactorMultiSourceSampler',
        batch_size=batch_size,
        source_ratio=[1, 1],
        repeat_thr=10.0),
    dataset=dict(
        type='ConcatDataset', datasets=[labeled_dataset, unlabeled_dataset]))
