# mmdet's Mask R-CNN R-50 FPN, the model of mmdet's
# mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py (which takes it unchanged from
# _base_/models/mask-rcnn_r50_fpn.py): 80 classes, caffe-free pytorch
# ResNet-50 with BN frozen (requires_grad=True, norm_eval=True), stage 1
# frozen. Its ImageNet backbone is read from a local file instead of
# 'torchvision://resnet50' (the same torchvision weights,
# ResNet50_Weights.IMAGENET1K_V1): no download happens at run time.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'

pretrained_backbone = 'data/pretrained/resnet50-0676ba61.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,
            type='CheckedPretrained',
            checkpoint=pretrained_backbone,
            hint='download the torchvision ImageNet weights '
            'https://download.pytorch.org/models/resnet50-0676ba61.pth '
            'to that path, or set model.backbone.init_cfg.checkpoint')))
