# S4M stage 2 on Cityscapes 30 %.
_base_ = './s4m-student_r50_4xb8-90k_cityscapes-5pct.py'

labeled_dataset = _base_.labeled_dataset
unlabeled_dataset = _base_.unlabeled_dataset
labeled_dataset.ann_file = \
    'annotations/instancesonly_filtered_gtFine_train.1@30.json'
unlabeled_dataset.ann_file = \
    'annotations/instancesonly_filtered_gtFine_train.1@30-unlabeled.json'
train_dataloader = dict(
    dataset=dict(datasets=[labeled_dataset, unlabeled_dataset]))
default_hooks = dict(
    teacher_schedule=dict(
        teacher_checkpoint='work_dirs/s4m-teacher_r50_2xb2-90k_'
        'cityscapes-30pct/iter_90000.pth'))
