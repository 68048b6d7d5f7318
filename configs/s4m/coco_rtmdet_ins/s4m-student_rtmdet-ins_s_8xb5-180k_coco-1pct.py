# S4M stage 2 on COCO 1 % with an RTMDet-Ins-s student (the model of
# mmdet::rtmdet/rtmdet-ins_s_8xb32-300e_coco.py, SyncBN as mmdet's), on the
# loader and length of mmdet's semi-supervised COCO recipe
# (mmdet::soft_teacher/soft-teacher_faster-rcnn_r50-caffe_fpn_180k_semi-0.1-coco.py
# and its _base_/datasets/semi_coco_detection.py): 8 GPUs x 5 images, 1
# labeled : 4 unlabeled, 180,000 iterations, validation every 5000,
# checkpoints every 10,000 (2 kept); RTMDet's AdamW and cosine policy in
# iterations (../_base_/schedules/adamw_180k_rtmdet.py). No EMAHook nor
# PipelineSwitchHook of RTMDet's recipe: S4M's teacher is the EMA, and the
# labeled view has no Mosaic to switch off. S4M's teacher schedule as the
# Mask2Former COCO students (25,000-iteration burn-in, EMA decay 0.9996).
# score_thr 0.5, a choice: RTMDet's quality-focal scores (classification x
# IoU) run lower than a softmax classifier's, 0.9 would keep few instances.
_base_ = [
    '../_base_/models/rtmdet-ins_s.py', '../_base_/models/s4m_prediction.py',
    '../_base_/datasets/semi_coco_instance_rtmdet.py',
    '../_base_/schedules/adamw_180k_rtmdet.py',
    '../_base_/s4m_student_runtime.py'
]

model = dict(
    _base_.prediction_s4m,
    _delete_=True,
    detector=_base_.model,
    semi_train_cfg=dict(_base_.prediction_s4m.semi_train_cfg, score_thr=0.5))
default_hooks = dict(
    teacher_schedule=dict(
        teacher_checkpoint='work_dirs/rtmdet-ins_s_8xb32-300e_'
        'coco-1pct/epoch_300.pth',
        burn_in=25000),
    checkpoint=dict(interval=10000, max_keep_ckpts=2))
auto_scale_lr = dict(base_batch_size=40)
