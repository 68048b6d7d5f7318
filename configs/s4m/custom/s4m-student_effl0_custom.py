# S4M stage 2 on your own data with the light Mask2Former of
# s4m-teacher_effl0_custom.py. Otherwise as s4m-student_r50_custom.py.
_base_ = [
    '../_base_/models/mask2former_effl0_nuclei.py', '../_base_/models/s4m.py',
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
detector = _base_.model
detector.data_preprocessor.batch_augments = [input_pad]
detector.panoptic_head.num_things_classes = '${num_classes}'
detector.panoptic_head.loss_cls.class_weight = '${class_weight}'
detector.panoptic_fusion_head.num_things_classes = '${num_classes}'
model = dict(
    _base_.s4m,
    _delete_=True,
    detector=detector,
    data_preprocessor=dict(
        type='MultiBranchDataPreprocessor',
        data_preprocessor=detector.data_preprocessor),
    refiner=dict(_base_.s4m.refiner, sam='${sam}'))

custom_hooks = _base_.custom_hooks
custom_hooks[0].update(
    teacher_checkpoint='${teacher_checkpoint}', burn_in=5000)
