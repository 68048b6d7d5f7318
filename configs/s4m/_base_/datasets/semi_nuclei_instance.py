# The demo's stage 2: views of labeled and unlabeled tiles, 3 + 3 a batch.
# The teacher and the student see the same geometric augmentation of an
# unlabeled tile (their masks correspond pixel for pixel); the student's
# strong photometric augmentation comes after ARP, inside the model
# (model.unsup_batch_augments). Tiles are drawn uniformly from both sources.
_base_ = './nuclei_instance.py'

branch_field = ['sup', 'unsup_teacher', 'unsup_student']
unsup_meta_keys = _base_.train_meta_keys
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
    *_base_.train_views,
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
    ann_file='annotations/unlabeled.json',
    data_prefix=dict(img='images/'),
    filter_cfg=dict(filter_empty_gt=False),
    missing_hint=_base_.demo_hint,
    pipeline=unsup_pipeline,
    backend_args=_base_.backend_args)

batch_size = 6
train_dataloader = dict(
    _delete_=True,
    batch_size=batch_size,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(
        type='MultiSourceSampler',
        batch_size=batch_size,
        source_ratio=[1, 1]),
    dataset=dict(
        type='ConcatDataset', datasets=[labeled_dataset, unlabeled_dataset]))
