# Mask2Former for the CPU demo: the light Mask2Former of effl0_light.py
# (ImageNet EfficientNet-Lite0, 50 queries, 3 + 6 transformer layers) with
# one class (nucleus) and 256 px inputs.
_base_ = ['./mask2former_r50.py', './effl0_light.py']

num_classes = 1
image_size = (256, 256)

model = dict(
    _base_.effl0_light,
    data_preprocessor=dict(
        batch_augments=[dict(_base_.input_pad, size=image_size)]),
    panoptic_head=dict(
        _base_.effl0_light.panoptic_head,
        num_things_classes=num_classes,
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(num_things_classes=num_classes))
