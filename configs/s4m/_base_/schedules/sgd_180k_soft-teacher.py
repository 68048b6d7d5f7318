# mmdet's semi-supervised COCO schedule, from
# mmdet::soft_teacher/soft-teacher_faster-rcnn_r50-caffe_fpn_180k_semi-0.1-coco.py
# (the same in its 0.01 / 0.02 / 0.05 siblings): 180,000 iterations,
# validation every 5000, SGD lr 0.01 momentum 0.9 weight decay 1e-4 (for
# its batch of 8 GPUs x 5 images), linear warm-up from 0.001 x lr over 500
# iterations, lr x0.1 at 120,000 and 160,000; fp32 (OptimWrapper).
max_iters = 180000
val_interval = 5000

train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[120000, 160000],
        gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))
