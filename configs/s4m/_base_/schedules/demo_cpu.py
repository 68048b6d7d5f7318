# 250 iterations of batch 2: what 2 CPU cores train in minutes.
_base_ = './adamw_iter.py'

max_iters = 250
val_interval = 250

optim_wrapper = dict(optimizer=dict(lr=2e-4))
param_scheduler = dict(end=max_iters, milestones=[int(max_iters * 0.8)])
train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
auto_scale_lr = dict(base_batch_size=2)
