# The S4M code's COCO schedule: detectron2's Mask2Former COCO solver
# (Base-COCO-InstanceSegmentation.yaml), which scripts/coco/train_*.sh keep:
# 368,750 iterations, lr x0.1 at 327,778 and x0.01 at 355,092, AMP.
# Its warm-up (WARMUP_ITERS 10, WARMUP_FACTOR 1.0) starts at 1.0 x the lr,
# i.e. detectron2's linear warm-up from factor 1.0 to 1.0 is the constant
# lr: no warm-up scheduler here.
_base_ = './adamw_iter.py'

max_iters = 368750
val_interval = 5000

optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
param_scheduler = dict(
    _delete_=True,
    type='MultiStepLR',
    begin=0,
    end=max_iters,
    by_epoch=False,
    milestones=[327778, 355092],
    gamma=0.1)
train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
