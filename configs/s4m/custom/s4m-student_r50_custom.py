# S4M stage 2 on your own data: a Mask2Former R-50 student taught by your
# stage-1 teacher (custom_settings.teacher_checkpoint) on the unlabeled
# folder of custom_settings, with SAM refinement and ARP (ARP's 3000 px
# threshold at 1024 x 1024 scales with your input's area). Inherit it and
# give custom_settings (configs/s4m/custom/README.md).
_base_ = [
    '../_base_/models/s4m_student_r50.py',
    '../_base_/datasets/semi_custom_instance.py',
    '../_base_/schedules/adamw_20k.py', '../_base_/s4m_student_runtime.py'
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
heads = dict(
    panoptic_head=dict(
        num_things_classes='${num_classes}',
        loss_cls=dict(class_weight='${class_weight}')),
    panoptic_fusion_head=dict(num_things_classes='${num_classes}'))
model = dict(
    detector=dict(data_preprocessor=dict(batch_augments=[input_pad]),
                  **heads),
    data_preprocessor=dict(
        data_preprocessor=dict(batch_augments=[input_pad])),
    refiner=dict(sam='${sam}'))

custom_hooks = _base_.custom_hooks
custom_hooks[0].update(
    teacher_checkpoint='${teacher_checkpoint}', burn_in=5000)
