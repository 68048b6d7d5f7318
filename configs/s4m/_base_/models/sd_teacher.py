# S4M stage 1 on any Mask2Former: SAM structural distillation (P = 128
# query points, half on the GT foreground, SmoothL1 beta 1, weight 1:
# config/add_cfg.py SD_WEIGHT 1) with the paper's SAM. A teacher config
# lists a Mask2Former base beside this one and merges it into its model:
#     model = _base_.sd_teacher
# SAM is not part of the checkpoint, which loads into a stock Mask2Former.
_base_ = './s4m_sam.py'

sd_teacher = dict(
    type='SAMDistillMask2Former',
    sam=_base_.sam,
    sd_chunk=64,
    panoptic_head=dict(
        type='SAMDistillMask2FormerHead',
        num_sd_points=128,
        sd_fg_ratio=0.5,
        loss_sd=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0)))
