# The S4M paper code's Mask2Former schedule (detectron2 maskformer2_R50_bs16_
# 90k): AdamW 1e-4, weight decay 0.05, backbone lr x0.1, no decay on queries
# / level embeddings / norms, full-model grad clip 0.01, poly lr (power 0.9)
# over 90k iterations, AMP, evaluation and checkpoints every 5k.
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
