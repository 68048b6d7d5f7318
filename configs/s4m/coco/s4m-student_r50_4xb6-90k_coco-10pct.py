# S4M stage 2 on COCO 10 %. Paper (SAM 2 Hiera-L): 34.6 mask AP.
_base_ = './s4m-student_r50_4xb6-90k_coco-1pct.py'

train_dataloader = _base_.train_dataloader
train_dataloader.dataset.datasets[0].ann_file = \
    'semi_anns/instances_train2017.1@10.json'
train_dataloader.dataset.datasets[1].ann_file = \
    'semi_anns/instances_train2017.1@10-unlabeled.json'
custom_hooks = _base_.custom_hooks
custom_hooks[0].teacher_checkpoint = \
    'work_dirs/s4m-teacher_r50_8xb2-90k_coco-10pct/iter_90000.pth'
