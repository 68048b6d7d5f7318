# COCO 2017 for a box-based student's stage 2 (Mask R-CNN), with the
# loader of mmdet's semi-supervised COCO recipe
# (mmdet::_base_/datasets/semi_coco_detection.py): 5 images a GPU, 1
# labeled : 4 unlabeled (GroupMultiSourceSampler, source_ratio [1, 4]), 5
# workers. The labeled images take its sup_pipeline (coco_instance_ms.py).
# The unlabeled images take one multi-scale resize and flip (its weak
# view's geometry), shared by the teacher and the student views
# (semi_views.py), so that SAM, ARP and the pseudo-label carry work on
# masks that correspond pixel for pixel; mmdet's strong view (RandAugment
# colour and geometric ops, RandomErasing) is replaced by S4M's batch
# augments (ARP, then the strong photometric augmentation, in the model).
_base_ = ['./coco_instance_ms.py', './semi_views.py']

sup_pipeline = _base_.train_pipeline[:-1] + [_base_.sup_branch]
unsup_pipeline = [
    _base_.load_image, _base_.load_empty_masks, *_base_.ms_resize_flip,
    _base_.unsup_branches
]
labeled_dataset = dict(_base_.train_dataloader.dataset, pipeline=sup_pipeline)
unlabeled_dataset = dict(
    _base_.unlabeled_dataset, pipeline=unsup_pipeline)
batch_size = _base_.mmdet_semi_loader.batch_size
train_dataloader = dict(
    _base_.mmdet_semi_loader,
    _delete_=True,
    dataset=dict(
        type='ConcatDataset', datasets=[labeled_dataset, unlabeled_dataset]))
