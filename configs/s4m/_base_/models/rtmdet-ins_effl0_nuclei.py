# RTMDet-Ins-s for the CPU demo: mmdet's RTMDet-Ins-s neck and head
# (rtmdet/rtmdet-ins_s_8xb32-300e_coco.py over rtmdet-ins_l_8xb32-300e_coco.py
# and rtmdet_l_8xb32-300e_coco.py: CSPNeXtPAFPN with 128 channels and one
# CSP block, RTMDetInsSepBNHead with 2 stacked convs, quality focal, GIoU
# and dice losses, DynamicSoftLabelAssigner top-13, the same test_cfg) on
# the demo's ImageNet EfficientNet-Lite0 backbone (its stride 8, 16 and 32
# features: 40 / 112 / 320 channels) instead of CSPNeXt-s, whose ImageNet
# weights are not here. One class (nucleus); the other demo models'
# normalisation (ImageNet mean / std of RGB, as the backbone was trained)
# and batch padding to 32 px; BatchNorm instead of SyncBN (one CPU
# process). The model only: mmdet's file also holds its COCO data and
# schedule, so its values are written out here.
_base_ = './effl0_light.py'

num_classes = 1
norm_cfg = dict(type='BN')
act_cfg = dict(type='SiLU', inplace=True)

model = dict(
    type='RTMDet',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        # the ground-truth masks padded to the batch's shape, as the other
        # demo models' (RTMDetInsHead concatenates them over the batch; the
        # demo's crops after a random resize differ in size)
        pad_mask=True,
        pad_size_divisor=32,
        batch_augments=None),
    # the demo backbone (whose _delete_ replaces a base's backbone; this
    # model has none) at strides 8-32
    backbone=dict({
        key: value
        for key, value in _base_.effl0_light.backbone.items()
        if key != '_delete_'
    },
                  out_indices=(2, 3, 4)),
    neck=dict(
        type='CSPNeXtPAFPN',
        in_channels=[40, 112, 320],
        out_channels=128,
        num_csp_blocks=1,
        expand_ratio=0.5,
        norm_cfg=norm_cfg,
        act_cfg=act_cfg),
    bbox_head=dict(
        type='RTMDetInsSepBNHead',
        num_classes=num_classes,
        in_channels=128,
        stacked_convs=2,
        share_conv=True,
        pred_kernel_size=1,
        feat_channels=128,
        act_cfg=act_cfg,
        norm_cfg=dict(type='BN', requires_grad=True),
        anchor_generator=dict(
            type='MlvlPointGenerator', offset=0, strides=[8, 16, 32]),
        bbox_coder=dict(type='DistancePointBBoxCoder'),
        loss_cls=dict(
            type='QualityFocalLoss',
            use_sigmoid=True,
            beta=2.0,
            loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        loss_mask=dict(
            type='DiceLoss', loss_weight=2.0, eps=5e-6, reduction='mean')),
    train_cfg=dict(
        assigner=dict(type='DynamicSoftLabelAssigner', topk=13),
        allowed_border=-1,
        pos_weight=-1,
        debug=False),
    test_cfg=dict(
        nms_pre=1000,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.6),
        max_per_img=100,
        mask_thr_binary=0.5))
