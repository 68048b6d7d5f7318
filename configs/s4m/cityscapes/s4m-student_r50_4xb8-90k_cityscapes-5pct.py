# S4M stage 2 on Cityscapes 5 %: 4 labeled + 4 unlabeled frames a GPU on 4
# GPUs (scripts/cityscapes/train_student.sh IMS_PER_BATCH 16, README "4x
# RTX 3090"), 90k iterations of poly lr, burn-in 15k (config/add_cfg.py),
# ARP without scale jitter (AUG_STATIC True) and its 3000 px minimum area at
# the 512 x 1024 crop.
_base_ = [
    '../_base_/models/mask2former_r50_cityscapes.py',
    '../_base_/models/s4m.py',
    '../_base_/datasets/semi_cityscapes_instance.py',
    '../_base_/schedules/poly_90k.py', '../_base_/s4m_student_runtime.py'
]

crop_h, crop_w = _base_.crop_size
arp = dict(_base_.arp, reference_area=crop_h * crop_w, scale_jitter=None)
model = dict(
    _base_.s4m,
    _delete_=True,
    detector=_base_.model,
    unsup_batch_augments=dict(arp=arp, strong_aug=_base_.strong_aug))
default_hooks = dict(
    teacher_schedule=dict(
        teacher_checkpoint='work_dirs/s4m-teacher_r50_2xb2-90k_'
        'cityscapes-5pct/iter_90000.pth'))
auto_scale_lr = dict(base_batch_size=32)
