# A starting schedule for your own data with an RTMDet-Ins detector:
# adamw_180k_rtmdet.py (RTMDet's AdamW, 1000-iteration warm-up, cosine
# annealing over the second half) over 20k iterations. Set another length
# with train_cfg.max_iters and param_scheduler in your config.
_base_ = './adamw_180k_rtmdet.py'

max_iters = 20000
val_interval = 2000

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1.0e-5,
        by_epoch=False,
        begin=0,
        end=1000),
    dict(
        type='CosineAnnealingLR',
        eta_min=_base_.base_lr * 0.05,
        begin=max_iters // 2,
        end=max_iters,
        T_max=max_iters // 2,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
