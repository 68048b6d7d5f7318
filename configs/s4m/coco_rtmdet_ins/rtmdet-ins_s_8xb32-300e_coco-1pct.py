# Stage 1 of an RTMDet-Ins-s S4M student on COCO 1 %: mmdet's own recipe,
# mmdet::rtmdet/rtmdet-ins_s_8xb32-300e_coco.py, unchanged (8 GPUs x 32,
# 300 epochs, AdamW lr 0.004, Mosaic / MixUp then the stage-2 pipeline
# from epoch 280, its EMA, SyncBN) but on the labeled split only (no
# structural distillation: SD is defined on Mask2Former's queries), the
# CSPNeXt-s ImageNet backbone from a local file (no download at run time),
# the split's missing-file hint, and this package's modules. 300 epochs of
# the split are few iterations at 1 % (about 1,400 of batch 256).
_base_ = [
    'mmdet::rtmdet/rtmdet-ins_s_8xb32-300e_coco.py',
    '../_base_/datasets/coco_split.py'
]

# what ../_base_/default_runtime.py gives every other config
custom_imports = dict(imports=['s4m_mm'], allow_failed_imports=False)
default_scope = 'mmdet'
runner_type = 'S4MRunner'
default_hooks = dict(
    finite_loss=dict(type='FiniteLossHook'),
    rng_state=dict(type='RNGStateHook'))

pretrained_backbone = 'data/pretrained/cspnext-s_imagenet_600e.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,
            type='CheckedPretrained',
            prefix='backbone.',
            checkpoint=pretrained_backbone,
            hint='download mmdet\'s CSPNeXt-s ImageNet weights '
            'https://download.openmmlab.com/mmdetection/v3.0/rtmdet/'
            'cspnext_rsb_pretrain/cspnext-s_imagenet_600e.pth to that '
            'path, or set model.backbone.init_cfg.checkpoint')))
train_dataloader = dict(
    dataset=dict(
        type='S4MCocoDataset',
        ann_file='semi_anns/instances_train2017.1@1.json',
        missing_hint=_base_.split_hint))
val_dataloader = dict(
    dataset=dict(type='S4MCocoDataset', missing_hint=_base_.split_hint))
test_dataloader = val_dataloader
