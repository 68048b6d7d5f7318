# S4M stage 2 on Cityscapes 20 %. Paper (SAM 2 Hiera-L): 37.3 mask AP.
_base_ = './s4m-student_r50_4xb8-90k_cityscapes-5pct.py'

train_dataloader = _base_.train_dataloader
train_dataloader.dataset.datasets[0].ann_file = \
    'annotations/instancesonly_filtered_gtFine_train.1@20.json'
train_dataloader.dataset.datasets[1].ann_file = \
    'annotations/instancesonly_filtered_gtFine_train.1@20-unlabeled.json'
custom_hooks = _base_.custom_hooks
custom_hooks[0].teacher_checkpoint = \
    'work_dirs/s4m-teacher_r50_2xb2-90k_cityscapes-20pct/iter_90000.pth'
