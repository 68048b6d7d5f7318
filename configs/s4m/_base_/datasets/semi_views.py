# What the stage-2 dataset bases share: mmdet's MultiBranch views of a
# labeled image (`sup`) and of an unlabeled one (`unsup_teacher`,
# `unsup_student`: the same geometric view, so that their masks correspond
# pixel for pixel; the student's strong photometric augmentation comes
# after ARP, inside the model), and the loader of labeled + unlabeled
# images half and half. A semi base inherits a dataset base and this one:
#     sup_pipeline = _base_.train_pipeline[:-1] + [_base_.sup_branch]
#     unsup_pipeline = [_base_.load_image, _base_.load_empty_masks,
#                       *geometric views, _base_.unsup_branches]
#     train_dataloader = dict(_base_.semi_loader, _delete_=True, dataset=...)
branch_field = ['sup', 'unsup_teacher', 'unsup_student']
unsup_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'flip', 'flip_direction',
                   'homography_matrix')
sup_branch = dict(
    type='MultiBranch',
    branch_field=branch_field,
    sup=dict(type='PackDetInputs'))
# empty masks, so that the batch pad (BatchFixedSizePad, pad_mask) has
# masks to pad before the pseudo-labels replace them
load_empty_masks = dict(type='LoadEmptyAnnotations', with_mask=True)
unsup_branches = dict(
    type='MultiBranch',
    branch_field=branch_field,
    unsup_teacher=dict(type='PackDetInputs', meta_keys=unsup_meta_keys),
    unsup_student=dict(type='PackDetInputs', meta_keys=unsup_meta_keys))

# 3 labeled + 3 unlabeled images a GPU; the labeled ones repeat by category
# frequency (detectron2's RepeatFactorTrainingSampler, threshold 10), the
# unlabeled ones are drawn uniformly (the S4M code's train_net.py)
batch_size = 6
semi_loader = dict(
    batch_size=batch_size,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(
        type='RepeatFactorMultiSourceSampler',
        batch_size=batch_size,
        source_ratio=[1, 1],
        repeat_thr=10.0))
