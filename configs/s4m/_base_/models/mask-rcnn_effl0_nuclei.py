# Mask R-CNN for the CPU demo: mmdet's Mask R-CNN with FPN (RPN, box and
# mask heads of mask-rcnn_r50_fpn.py) on the demo's ImageNet
# EfficientNet-Lite0 backbone (features at strides 4-32 with 24 / 40 / 112
# / 320 channels, as the demo's Mask2Former), one class (nucleus), the same
# normalisation and batch padding to 32 px.
#
# Lighter than mmdet's for 2 CPU cores (a 256 px tile holds about 10
# nuclei): 128 channels instead of 256 in FPN and the heads, 300 RPN
# proposals an image instead of 1000 (in training and at test time, which
# is also the teacher's prediction of pseudo-labels) and 128 sampled RoIs
# instead of 512. An iteration of batch 2 took 0.65 s instead of 3-4.7 s
# on this project's 2-core AMD EPYC.
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py', './effl0_light.py']

num_classes = 1
channels = 128

model = dict(
    backbone=_base_.effl0_light.backbone,
    neck=dict(in_channels=[24, 40, 112, 320], out_channels=channels),
    rpn_head=dict(in_channels=channels, feat_channels=channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels),
        bbox_head=dict(in_channels=channels, num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=channels),
        mask_head=dict(
            in_channels=channels,
            conv_out_channels=channels,
            num_classes=num_classes)),
    train_cfg=dict(
        rpn_proposal=dict(max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(max_per_img=300)))
