# mmdet's RTMDet-Ins-s, the model of mmdet's
# rtmdet/rtmdet-ins_s_8xb32-300e_coco.py (rtmdet_l_8xb32-300e_coco.py's
# RTMDet with rtmdet-ins_l's RTMDetInsSepBNHead, scaled by rtmdet-ins_s:
# deepen 0.33, widen 0.5, 128 channels), written out because mmdet has no
# model-only base for it (inheriting the recipe would bring its data, hooks
# and schedule); tests/test_configs/test_detector_recipes.py checks that it
# equals mmdet's, key for key, but for the backbone's init_cfg. SyncBN as
# mmdet's (multi-GPU training; mmengine's Runner reverts it to BN in a
# non-distributed run).
# Its CSPNeXt-s ImageNet backbone is read from a local file instead of
# mmdet's URL: no download happens at run time.
num_classes = 80
pretrained_backbone = 'data/pretrained/cspnext-s_imagenet_600e.pth'
norm_cfg = dict(type='SyncBN')
act_cfg = dict(type='SiLU', inplace=True)
model = dict(
    type='RTMDet',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[103.53, 116.28, 123.675],
        std=[57.375, 57.12, 58.395],
        bgr_to_rgb=False,
        batch_augments=None),
    backbone=dict(
        type='CSPNeXt',
        arch='P5',
        expand_ratio=0.5,
        deepen_factor=0.33,
        widen_factor=0.5,
        channel_attention=True,
        norm_cfg=norm_cfg,
        act_cfg=act_cfg,
        init_cfg=dict(
            type='CheckedPretrained',
            prefix='backbone.',
            checkpoint=pretrained_backbone,
            hint='download mmdet\'s CSPNeXt-s ImageNet weights '
            'https://download.openmmlab.com/mmdetection/v3.0/rtmdet/'
            'cspnext_rsb_pretrain/cspnext-s_imagenet_600e.pth to that '
            'path, or set model.backbone.init_cfg.checkpoint')),
    neck=dict(
        type='CSPNeXtPAFPN',
        in_channels=[128, 256, 512],
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
        norm_cfg=dict(type='SyncBN', requires_grad=True),
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
