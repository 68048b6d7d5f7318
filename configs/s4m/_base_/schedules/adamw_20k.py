# A starting schedule for your own data: Mask2Former's optimisation over
# 20k iterations, lr x0.1 at 88.9 % and 96.3 % of them (mmdet's Mask2Former
# milestones). Set another length with train_cfg.max_iters and
# param_scheduler (end, milestones) in your config.
_base_ = './adamw_iter.py'

max_iters = 20000
val_interval = 2000

param_scheduler = dict(
    end=max_iters,
    milestones=[int(max_iters * 0.889), int(max_iters * 0.963)])
train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
