# The frozen SAM of the paper configs, for structural distillation (stage 1)
# and pseudo-label refinement (stage 2): SAM 2 Hiera-L with the SAM 2.0
# weights, as the paper (config/add_cfg.py SAM_TYPE 'large' ->
# sam2_hiera_l.yaml + sam2_hiera_large.pt), from a local checkpoint
# (https://dl.fbaipublicfiles.com/segment_anything_2/072824/sam2_hiera_large.pt).
sam2_hiera_l = dict(
    type='SAM2Adapter',
    sam_type='sam2_hiera_l',
    checkpoint='data/pretrained/sam2_hiera_large.pt')
# SAM 1 ViT-H instead, in a config that inherits this one:
#     sam = _base_.sam_vit_h
# (https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth);
# the teacher and student bases read `sam`, and _delete_ drops the SAM 2
# keys where a child merges it into an inherited model.
sam_vit_h = dict(
    _delete_=True,
    type='SAMAdapter',
    sam_type='vit_h',
    checkpoint='data/pretrained/sam_vit_h_4b8939.pth')
sam = sam2_hiera_l
