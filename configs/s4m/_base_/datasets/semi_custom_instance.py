# Your own data for S4M's stage 2: the labeled COCO json and a folder of
# unlabeled images (scanned recursively; or a text list of paths,
# custom_settings.unlabeled_list), half and half in each batch. The teacher
# and the student see the same geometric view of an unlabeled image; the
# student's strong photometric augmentation comes after ARP, inside the
# model.
_base_ = './custom_instance.py'

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
        scale='${input_wh}',
        ratio_range=(0.1, 2.0),
        resize_type='Resize',
        keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_size='${input_wh}',
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
    type='UnlabeledImageFolder',
    data_root='${data_root}',
    ann_file='${unlabeled_list}',
    data_prefix=dict(img='${unlabeled_img}'),
    metainfo=_base_.metainfo,
    pipeline=unsup_pipeline,
    backend_args=_base_.backend_args)

# 3 labeled + 3 unlabeled images a GPU; labeled images repeat by category
# frequency (the paper's sampler), unlabeled ones are drawn uniformly
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
        type='ConcatDataset',
        # the COCO dataset adds a palette the image folder has no use for
        ignore_keys=['palette'],
        datasets=[labeled_dataset, unlabeled_dataset]))
