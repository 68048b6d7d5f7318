# S4M stage 1 on your own data: the paper's Mask2Former R-50 teacher with
# SAM structural distillation, on the labeled json of custom_settings.
# Inherit it and give custom_settings (configs/s4m/custom/README.md); every
# '${...}' value (class counts, input size, SAM) is filled in from them by
# S4MRunner.
_base_ = [
    '../_base_/models/s4m_teacher_r50.py',
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
model = dict(
    data_preprocessor=dict(batch_augments=[input_pad]),
    sam='${sam}',
    panoptic_head=dict(
        num_things_classes='${num_classes}',
        loss_cls=dict(class_weight='${class_weight}')),
    panoptic_fusion_head=dict(num_things_classes='${num_classes}'))
