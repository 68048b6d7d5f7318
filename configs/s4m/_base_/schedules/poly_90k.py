# The S4M code's Cityscapes schedule (Base-Cityscapes-InstanceSegmentation.
# yaml): detectron2's WarmupPolyLR over 90k iterations with DeepLab's
# POLY_LR_POWER 0.9 and POLY_LR_CONSTANT_ENDING 0, lr -> 0 at the end;
# WARMUP_ITERS 0: no warm-up. AMP.
_base_ = './adamw_iter.py'

max_iters = 90000
val_interval = 5000

optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
param_scheduler = dict(
    _delete_=True,
    type='PolyLR',
    power=0.9,
    eta_min=0.0,
    begin=0,
    end=max_iters,
    by_epoch=False)
train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
