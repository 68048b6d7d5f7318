# Your own data for S4M's stage 2: the labeled COCO json and a folder of
# unlabeled images (scanned recursively; or a text list of paths,
# custom_settings.unlabeled_list), half and half in each batch, 3 + 3 a
# GPU. The unlabeled images take the labeled ones' view, shared by the
# teacher and the student.
_base_ = ['./custom_instance.py', './semi_views.py']

sup_pipeline = _base_.train_pipeline[:-1] + [_base_.sup_branch]
unsup_pipeline = [
    _base_.load_image, _base_.load_empty_masks, *_base_.lsj,
    _base_.unsup_branches
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
train_dataloader = dict(
    _base_.semi_loader,
    _delete_=True,
    dataset=dict(
        type='ConcatDataset',
        # the COCO dataset adds a palette the image folder has no use for
        ignore_keys=['palette'],
        datasets=[labeled_dataset, unlabeled_dataset]))
