# S4M stage 2 on COCO 1 % with a Mask R-CNN R-50 FPN student, on mmdet's
# semi-supervised COCO recipe (mmdet::soft_teacher/soft-teacher_faster-rcnn_
# r50-caffe_fpn_180k_semi-0.1-coco.py, which its 0.01 file inherits, and
# its _base_/datasets/semi_coco_detection.py): 8 GPUs x 5 images, 1
# labeled : 4 unlabeled, 180,000 iterations, SGD lr 0.01, validation every
# 5000, checkpoints every 10,000 (2 kept). S4M's teacher schedule as the
# Mask2Former COCO students: the stage-1 teacher frozen for a 25,000
# iteration burn-in, then EMA decay 0.9996 (S4M's
# scripts/coco/train_student.sh, config/add_cfg.py), not mmdet's
# MeanTeacherHook (momentum 0.001 from iteration 0, for a teacher trained
# jointly from scratch). score_thr 0.9: mmdet's soft teacher's
# cls_pseudo_thr, for a box classifier of the same kind.
_base_ = [
    '../_base_/models/mask-rcnn_r50_fpn.py',
    '../_base_/models/s4m_prediction.py',
    '../_base_/datasets/semi_coco_instance_ms.py',
    '../_base_/schedules/sgd_180k_soft-teacher.py',
    '../_base_/s4m_student_runtime.py'
]

model = dict(
    _base_.prediction_s4m,
    _delete_=True,
    detector=_base_.model,
    semi_train_cfg=dict(_base_.prediction_s4m.semi_train_cfg, score_thr=0.9))
default_hooks = dict(
    teacher_schedule=dict(
        teacher_checkpoint='work_dirs/mask-rcnn_r50_fpn_8xb2-180k_'
        'coco-1pct/iter_180000.pth',
        burn_in=25000),
    checkpoint=dict(interval=10000, max_keep_ckpts=2))
auto_scale_lr = dict(base_batch_size=40)
