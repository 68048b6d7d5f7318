# A starting schedule for your own data with an RTMDet-Ins detector:
# adamw_180k_rtmdet.py (RTMDet's AdamW, 1000-iteration warm-up, cosine
# annealing over the second half) over 20k iterations. Set another length
# with train_cfg.max_iters and param_scheduler in your config.
_base_ = './adamw_180k_rtmdet.py'

max_iters = 20000
val_interval = 2000

param_scheduler = [
    _base_.param_scheduler[0],
    dict(
        _base_.param_scheduler[1],  # CosineAnnealingLR
        begin=max_iters // 2,
        end=max_iters,
        T_max=max_iters // 2)
]
train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
