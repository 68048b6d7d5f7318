# S4M stage 2 on the demo with an RTMDet-Ins student: the demo's RTMDet-Ins
# (EfficientNet-Lite0, one class, 256 px) taught by its supervised stage-1
# teacher (rtmdet-ins_effl0_nuclei_sup.py) on the unlabeled tiles, with the
# Mask2Former demo student's refinement, ARP, strong augmentation,
# schedule and hooks (../_base_/s4m_demo_student.py). The pseudo-labels
# are the teacher's own predictions (its test_cfg, then score > 0.5, as
# RTMDet's quality-focal scores run lower than a softmax's, and more than
# 80 mask pixels), SAM's point prompts drawn in their binary masks; the
# student learns from them with its own classification, GIoU and dice
# losses.
_base_ = [
    '../_base_/models/rtmdet-ins_effl0_nuclei.py',
    '../_base_/s4m_demo_student.py'
]

model = dict(
    _base_.s4m,
    _delete_=True,
    detector=_base_.model,
    pseudo_labeler=dict(type='PredictionPseudoLabeler'),
    semi_train_cfg=dict(
        sup_weight=1.0, unsup_weight=2.0, score_thr=0.5, min_mask_area=80),
    refiner=dict(_base_.demo_refiner, point_sampling='in_mask'))
default_hooks = dict(
    teacher_schedule=dict(
        teacher_checkpoint='work_dirs/demo/rtmdet_ins/supervised/'
        'iter_250.pth'))
# RTMDetInsSepBNHead shares its convolutions between levels (share_conv):
# the optimizer skips the repeated parameters, as mmdet's RTMDet configs do
# (without it the optimizer refuses them: "some parameters appear in more
# than one parameter group")
optim_wrapper = dict(paramwise_cfg=dict(bypass_duplicate=True))
