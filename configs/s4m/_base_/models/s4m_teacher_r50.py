# Stage 1 of S4M: Mask2Former R-50 trained with SAM structural distillation
# (P = 128 query points, half on GT foreground, SmoothL1 beta 1, weight 1).
# The frozen SAM is segment-anything's ViT-H from a local checkpoint
# (https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth);
# the paper used SAM 2 Hiera-L. It is not part of the checkpoint.
_base_ = './mask2former_r50.py'

sam_checkpoint = 'data/pretrained/sam_vit_h_4b8939.pth'

model = dict(
    type='SAMDistillMask2Former',
    sam=dict(type='SAMAdapter', sam_type='vit_h', checkpoint=sam_checkpoint),
    sd_chunk=64,
    panoptic_head=dict(
        type='SAMDistillMask2FormerHead',
        num_sd_points=128,
        sd_fg_ratio=0.5,
        loss_sd=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0)))
