# S4M stage 2 on your own data: a Mask2Former R-50 student taught by your
# stage-1 teacher (custom_settings.teacher_checkpoint) on the unlabeled
# folder of custom_settings, with SAM refinement and ARP (ARP's 3000 px
# threshold at 1024 x 1024 scales with your input's area). Inherit it and
# give custom_settings (docs/custom_data.md).
_base_ = [
    '../_base_/models/mask2former_r50.py', '../_base_/models/s4m.py',
    '../_base_/datasets/semi_custom_instance.py',
    '../_base_/schedules/adamw_20k.py', '../_base_/s4m_student_runtime.py'
]

# the base's Mask2Former with your classes and input size
detector = _base_.model
detector.update(
    _base_.custom_heads,
    data_preprocessor=dict(
        batch_augments=[dict(_base_.input_pad, size='${input_hw}')]))
model = dict(
    _base_.s4m,
    _delete_=True,
    detector=detector,
    refiner=dict(_base_.s4m.refiner, sam='${sam}'))
default_hooks = dict(
    checkpoint=dict(interval=2000),
    teacher_schedule=dict(
        teacher_checkpoint='${teacher_checkpoint}', burn_in=5000))
