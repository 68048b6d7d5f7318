# Cityscapes for S4M's stage 2: each batch takes labeled and unlabeled
# frames half and half. The unlabeled frames get the labeled frames'
# geometry (multi-scale, 512 x 1024 crop, flip) shared by both views; as in
# the S4M code (MaskFormerImageDatasetMapper) the teacher's view (which SAM
# refines too) is SSD colour-jittered and the student's is not: its strong
# photometric augmentation comes after ARP, inside the model
# (model.unsup_batch_augments), on the frame before colour jitter.
_base_ = './cityscapes_instance.py'

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
    dict(
        type='RandomChoiceResize',
        scales=[(4096, int(x * 0.1 * 1024)) for x in range(5, 21)],
        keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_size=_base_.crop_size[::-1],
        crop_type='absolute',
        allow_negative_crop=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='MultiBranch',
        branch_field=branch_field,
        unsup_teacher=[
            dict(type='ColorAugSSD'),
            dict(type='PackDetInputs', meta_keys=unsup_meta_keys)
        ],
        unsup_student=dict(type='PackDetInputs', meta_keys=unsup_meta_keys))
]

labeled_dataset = dict(_base_.train_dataloader.dataset, pipeline=sup_pipeline)
unlabeled_dataset = dict(
    type=_base_.dataset_type,
    data_root=_base_.data_root,
    ann_file='annotations/instancesonly_filtered_gtFine_train.1@5'
    '-unlabeled.json',
    data_prefix=dict(img='leftImg8bit/train/'),
    filter_cfg=dict(filter_empty_gt=False),
    missing_hint=_base_.split_hint,
    pipeline=unsup_pipeline,
    backend_args=_base_.backend_args)

# 4 labeled + 4 unlabeled frames a GPU; the labeled ones repeat by category
# frequency (detectron2's RepeatFactorTrainingSampler, threshold 10), the
# unlabeled ones are drawn uniformly (the S4M code's train_net.py).
batch_size = 8
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
