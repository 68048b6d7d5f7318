# Cityscapes for S4M's stage 2: each batch takes labeled and unlabeled
# frames half and half, 4 + 4 a GPU. The unlabeled frames get the labeled
# frames' multi-scale crop and a flip, shared by both views; as in the S4M
# code (MaskFormerImageDatasetMapper) the teacher's view (which SAM refines
# too) is SSD colour-jittered and the student's is not: its strong
# photometric augmentation comes after ARP, inside the model, on the frame
# before colour jitter.
_base_ = ['./cityscapes_instance.py', './semi_views.py']

sup_pipeline = _base_.train_pipeline[:-1] + [_base_.sup_branch]
unsup_pipeline = [
    _base_.load_image, _base_.load_empty_masks, *_base_.multi_scale_crop,
    dict(type='RandomFlip', prob=0.5),
    dict(
        _base_.unsup_branches,
        unsup_teacher=[
            dict(type='ColorAugSSD'), _base_.unsup_branches.unsup_teacher
        ])
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
batch_size = 8
train_dataloader = dict(
    _base_.semi_loader,
    _delete_=True,
    batch_size=batch_size,
    sampler=dict(_base_.semi_loader.sampler, batch_size=batch_size),
    dataset=dict(
        type='ConcatDataset', datasets=[labeled_dataset, unlabeled_dataset]))
