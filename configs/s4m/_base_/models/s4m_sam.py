# The frozen SAM of the paper configs, for structural distillation (stage 1)
# and pseudo-label refinement (stage 2): segment-anything's ViT-H from a
# local checkpoint
# (https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth).
# The paper uses SAM 2 Hiera-L (config/add_cfg.py SAM_TYPE 'large').
sam = dict(
    type='SAMAdapter',
    sam_type='vit_h',
    checkpoint='data/pretrained/sam_vit_h_4b8939.pth')
