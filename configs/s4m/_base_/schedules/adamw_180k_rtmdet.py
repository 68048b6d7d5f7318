# The 180,000-iteration semi-supervised schedule of mmdet's soft teacher
# (mmdet::soft_teacher/soft-teacher_faster-rcnn_r50-caffe_fpn_180k_semi-0.1-coco.py:
# max_iters 180000, val_interval 5000) with RTMDet's own optimizer and lr
# policy (mmdet::rtmdet/rtmdet_l_8xb32-300e_coco.py: AdamW, weight decay
# 0.05, no decay on norms and biases, linear warm-up from 1e-5 x lr over
# 1000 iterations, cosine annealing to 0.05 x lr over the second half),
# counted in iterations instead of epochs. RTMDet's lr 0.004 is for a batch
# of 256 (8 GPUs x 32); scaled linearly (mmdet's auto_scale_lr rule) to the
# semi batch of 40 (8 GPUs x 5): 0.004 * 40 / 256 = 0.000625.
max_iters = 180000
val_interval = 5000
base_lr = 0.004 * 40 / 256

train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1.0e-5,
        by_epoch=False,
        begin=0,
        end=1000),
    dict(
        type='CosineAnnealingLR',
        eta_min=base_lr * 0.05,
        begin=max_iters // 2,
        end=max_iters,
        T_max=max_iters // 2,
        by_epoch=False)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=base_lr, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True))
