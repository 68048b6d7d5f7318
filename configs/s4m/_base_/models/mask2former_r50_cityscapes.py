# Mask2Former R-50 for Cityscapes (Base-Cityscapes-InstanceSegmentation.yaml
# and maskformer2_R50_bs16_90k.yaml of the S4M code): 8 thing classes,
# BatchNorm trained with batch statistics and synchronised over the GPUs
# (RESNETS.NORM SyncBN), the batch padded to the 512 x 1024 (h x w) crop of
# _base_/datasets/cityscapes_instance.py. The teacher and the student of
# every Cityscapes config build on it.
_base_ = './mask2former_r50.py'

num_classes = 8
image_size = (512, 1024)

model = dict(
    data_preprocessor=dict(
        batch_augments=[dict(_base_.input_pad, size=image_size)]),
    backbone=dict(
        norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=False),
    panoptic_head=dict(
        num_things_classes=num_classes,
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(num_things_classes=num_classes))
