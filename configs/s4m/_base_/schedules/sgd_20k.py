# A starting schedule for your own data with an SGD detector (Mask R-CNN):
# the semi schedule of mmdet's soft teacher (sgd_180k_soft-teacher.py: SGD
# lr 0.01, 500-iteration warm-up, lr x0.1 at 2/3 and 8/9 of the run) over
# 20k iterations. Set another length with train_cfg.max_iters and
# param_scheduler in your config.
_base_ = './sgd_180k_soft-teacher.py'

max_iters = 20000
val_interval = 2000

param_scheduler = [
    _base_.param_scheduler[0],
    dict(
        _base_.param_scheduler[1],  # MultiStepLR
        end=max_iters,
        milestones=[max_iters * 2 // 3, max_iters * 8 // 9])
]
train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
