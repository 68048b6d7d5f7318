# The demo's stage 2: views of labeled and unlabeled tiles, 3 + 3 a batch,
# drawn uniformly from both sources in the main process. The unlabeled
# tiles take the labeled tiles' views, shared by the teacher and the
# student.
_base_ = ['./nuclei_instance.py', './semi_views.py']

sup_pipeline = _base_.train_pipeline[:-1] + [_base_.sup_branch]
unsup_pipeline = [
    _base_.load_image, _base_.load_empty_masks, *_base_.train_views,
    _base_.unsup_branches
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
train_dataloader = dict(
    _base_.semi_loader,
    _delete_=True,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(
        type='MultiSourceSampler',
        batch_size=_base_.batch_size,
        source_ratio=[1, 1]),
    dataset=dict(
        type='ConcatDataset', datasets=[labeled_dataset, unlabeled_dataset]))
