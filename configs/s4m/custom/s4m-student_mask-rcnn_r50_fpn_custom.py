# S4M stage 2 on your own data with a Mask R-CNN R-50 FPN student taught by
# your mask-rcnn_r50_fpn_custom.py teacher (custom_settings.
# teacher_checkpoint): its own predictions with score > 0.9 (mmdet's soft
# teacher's cls_pseudo_thr) and more than 80 mask pixels, refined by your
# SAM with points drawn in the masks, ARP and the strong augmentation, on
# the unlabeled folder of custom_settings (3 + 3 images a GPU, the custom
# LSJ at your input size), SGD lr 0.01 (mmdet's soft teacher) over 20k
# iterations with a 5000-iteration burn-in. Inherit it and give
# custom_settings (docs/custom_data.md).
_base_ = [
    '../_base_/models/mask-rcnn_r50_fpn.py',
    '../_base_/models/s4m_prediction.py',
    '../_base_/datasets/semi_custom_instance.py',
    '../_base_/schedules/sgd_20k.py', '../_base_/s4m_student_runtime.py'
]

# the base's Mask R-CNN with your classes
detector = _base_.model
detector.update(
    roi_head=dict(
        bbox_head=dict(num_classes='${num_classes}'),
        mask_head=dict(num_classes='${num_classes}')))
model = dict(
    _base_.prediction_s4m,
    _delete_=True,
    detector=detector,
    semi_train_cfg=dict(_base_.prediction_s4m.semi_train_cfg, score_thr=0.9),
    refiner=dict(_base_.prediction_s4m.refiner, sam='${sam}'))
default_hooks = dict(
    checkpoint=dict(interval=2000),
    teacher_schedule=dict(
        teacher_checkpoint='${teacher_checkpoint}', burn_in=5000))
