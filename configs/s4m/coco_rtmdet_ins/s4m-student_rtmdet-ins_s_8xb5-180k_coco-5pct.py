# S4M stage 2 on COCO 5 % with an RTMDet-Ins-s student.
_base_ = './s4m-student_rtmdet-ins_s_8xb5-180k_coco-1pct.py'

labeled_dataset = _base_.labeled_dataset
unlabeled_dataset = _base_.unlabeled_dataset
labeled_dataset.ann_file = 'semi_anns/instances_train2017.1@5.json'
unlabeled_dataset.ann_file = \
    'semi_anns/instances_train2017.1@5-unlabeled.json'
train_dataloader = dict(
    dataset=dict(datasets=[labeled_dataset, unlabeled_dataset]))
default_hooks = dict(
    teacher_schedule=dict(
        teacher_checkpoint='work_dirs/rtmdet-ins_s_8xb32-300e_'
        'coco-5pct/epoch_300.pth'))
