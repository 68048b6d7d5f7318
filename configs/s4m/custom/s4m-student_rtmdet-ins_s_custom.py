# S4M stage 2 on your own data with an RTMDet-Ins-s student taught by your
# rtmdet-ins_s_custom.py teacher (custom_settings.teacher_checkpoint): its
# own predictions with score > 0.5 (a choice: quality-focal scores run
# lower than a softmax classifier's) and more than 80 mask pixels, refined
# by your SAM with points drawn in the masks, ARP and the strong
# augmentation, on the unlabeled folder of custom_settings (3 + 3 images a
# GPU, the custom LSJ at your input size, the batch padded to it),
# RTMDet's AdamW over 20k iterations with a 5000-iteration burn-in. Inherit
# it and give custom_settings (docs/custom_data.md).
_base_ = [
    '../_base_/models/rtmdet-ins_s.py', '../_base_/models/s4m_prediction.py',
    '../_base_/datasets/semi_custom_instance.py',
    '../_base_/schedules/adamw_20k_rtmdet.py',
    '../_base_/s4m_student_runtime.py'
]

# the base's RTMDet-Ins with your classes, the batch and its masks padded
# to your input size (as rtmdet-ins_s_custom.py)
detector = _base_.model
detector.update(
    data_preprocessor=dict(pad_mask=True, mask_pad_value=0, batch_augments=[
        dict(
            type='BatchFixedSizePad',
            size='${input_hw}',
            img_pad_value=0,
            pad_mask=True,
            mask_pad_value=0,
            pad_seg=False)
    ]),
    bbox_head=dict(num_classes='${num_classes}'))
model = dict(
    _base_.prediction_s4m,
    _delete_=True,
    detector=detector,
    semi_train_cfg=dict(_base_.prediction_s4m.semi_train_cfg, score_thr=0.5),
    refiner=dict(_base_.prediction_s4m.refiner, sam='${sam}'))
default_hooks = dict(
    checkpoint=dict(interval=2000),
    teacher_schedule=dict(
        teacher_checkpoint='${teacher_checkpoint}', burn_in=5000))
auto_scale_lr = dict(base_batch_size=40)
