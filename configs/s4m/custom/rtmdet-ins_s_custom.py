# Stage 1 of an RTMDet-Ins-s S4M student on your own data: mmdet's
# RTMDet-Ins-s (../_base_/models/rtmdet-ins_s.py, SyncBN, needs
# data/pretrained/cspnext-s_imagenet_600e.pth) supervised on the labeled
# json of custom_settings (no structural distillation), with the custom LSJ
# at your input size (the batch padded to it) instead of RTMDet's Mosaic /
# MixUp, RTMDet's AdamW over 20k iterations
# (../_base_/schedules/adamw_20k_rtmdet.py; its lr is for a batch of 40:
# train with --auto-scale-lr for another). Inherit it and give
# custom_settings (docs/custom_data.md); no SAM is needed.
_base_ = [
    '../_base_/models/rtmdet-ins_s.py',
    '../_base_/datasets/custom_instance.py',
    '../_base_/schedules/adamw_20k_rtmdet.py', '../_base_/default_runtime.py'
]

# your classes in the head; the batch and its masks padded to your input
# size (RTMDet's preprocessor pads no masks: its recipe pads every image
# to 640 in the pipeline; the LSJ crop leaves smaller images unpadded)
input_pad = dict(
    type='BatchFixedSizePad',
    size='${input_hw}',
    img_pad_value=0,
    pad_mask=True,
    mask_pad_value=0,
    pad_seg=False)
model = dict(
    data_preprocessor=dict(
        pad_mask=True, mask_pad_value=0, batch_augments=[input_pad]),
    bbox_head=dict(num_classes='${num_classes}'))
default_hooks = dict(checkpoint=dict(interval=2000))
auto_scale_lr = dict(base_batch_size=40)
