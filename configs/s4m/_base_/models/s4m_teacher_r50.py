# S4M stage 1: Mask2Former R-50 trained with SAM structural distillation
# (P = 128 query points, half on GT foreground, SmoothL1 beta 1, weight 1:
# config/add_cfg.py SD_WEIGHT 1). SAM is not part of the checkpoint.
_base_ = ['./mask2former_r50.py', './s4m_sam.py']

model = dict(
    type='SAMDistillMask2Former',
    sam=_base_.sam,
    sd_chunk=64,
    panoptic_head=dict(
        type='SAMDistillMask2FormerHead',
        num_sd_points=128,
        sd_fg_ratio=0.5,
        loss_sd=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0)))
