# Stage 1 of a Mask R-CNN S4M student on COCO 1 %: mmdet's Mask R-CNN R-50
# FPN (mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py's model, optimizer SGD
# lr 0.02 momentum 0.9 weight decay 1e-4 and batch 8 GPUs x 2), supervised
# on the labeled split only (no structural distillation: SD is defined on
# Mask2Former's queries). It trains the semi schedule's 180,000 iterations
# (x0.1 at 120k and 160k, 500-iteration warm-up; the supervised baseline of
# the soft teacher's authors, microsoft/SoftTeacher
# configs/baseline/faster_rcnn_r50_caffe_fpn_coco_partial_180k.py, trains
# 180k iterations on the split too) on the labeled view of the semi recipe
# (../_base_/datasets/coco_instance_ms.py).
_base_ = [
    '../_base_/models/mask-rcnn_r50_fpn.py',
    '../_base_/datasets/coco_instance_ms.py',
    '../_base_/schedules/sgd_180k_soft-teacher.py',
    '../_base_/default_runtime.py'
]

optim_wrapper = dict(optimizer=dict(lr=0.02))
default_hooks = dict(checkpoint=dict(interval=10000, max_keep_ckpts=2))
auto_scale_lr = dict(base_batch_size=16)
