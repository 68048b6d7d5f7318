# S4M stage 2 on COCO 5 %.
_base_ = './s4m-student_r50_4xb6-368750iter_coco-1pct.py'

labeled_dataset = _base_.labeled_dataset
unlabeled_dataset = _base_.unlabeled_dataset
labeled_dataset.ann_file = 'semi_anns/instances_train2017.1@5.json'
unlabeled_dataset.ann_file = \
    'semi_anns/instances_train2017.1@5-unlabeled.json'
train_dataloader = dict(
    dataset=dict(datasets=[labeled_dataset, unlabeled_dataset]))
default_hooks = dict(
    teacher_schedule=dict(
        teacher_checkpoint='work_dirs/s4m-teacher_r50_2xb8-368750iter_'
        'coco-5pct/iter_368750.pth'))
