# RTMDet-Ins-s for the CPU demo: mmdet's RTMDet-Ins-s neck and head
# (rtmdet-ins_s.py: CSPNeXtPAFPN with 128 channels and one CSP block,
# RTMDetInsSepBNHead with 2 stacked convs, quality focal, GIoU and dice
# losses, DynamicSoftLabelAssigner top-13, the same test_cfg) on
# the demo's ImageNet EfficientNet-Lite0 backbone (its stride 8, 16 and 32
# features: 40 / 112 / 320 channels) instead of CSPNeXt-s, whose ImageNet
# weights are not here. One class (nucleus); the other demo models'
# normalisation (ImageNet mean / std of RGB, as the backbone was trained)
# and batch padding to 32 px; BatchNorm instead of SyncBN (one CPU
# process).
_base_ = ['./rtmdet-ins_s.py', './effl0_light.py']

num_classes = 1
norm_cfg = dict(type='BN')

model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        pad_mask=True),
    backbone=dict(_base_.effl0_light.backbone, out_indices=(2, 3, 4)),
    neck=dict(in_channels=[40, 112, 320], norm_cfg=norm_cfg),
    bbox_head=dict(
        num_classes=num_classes,
        norm_cfg=dict(type='BN', requires_grad=True)))
