# COCO 2017 for S4M's stage 2: each batch takes labeled and unlabeled
# images of a split half and half, 3 + 3 a GPU. The unlabeled images take
# the labeled ones' LSJ view, shared by the teacher and the student; no
# colour augmentation on COCO's unlabeled images (the S4M code's
# ImageDatasetMapper).
_base_ = ['./coco_instance.py', './semi_views.py']

sup_pipeline = _base_.train_pipeline[:-1] + [_base_.sup_branch]
unsup_pipeline = [
    _base_.load_image, _base_.load_empty_masks, *_base_.lsj,
    _base_.unsup_branches
]
labeled_dataset = dict(_base_.train_dataloader.dataset, pipeline=sup_pipeline)
unlabeled_dataset = dict(
    _base_.unlabeled_dataset, pipeline=unsup_pipeline)
train_dataloader = dict(
    _base_.semi_loader,
    _delete_=True,
    dataset=dict(
        type='ConcatDataset', datasets=[labeled_dataset, unlabeled_dataset]))
