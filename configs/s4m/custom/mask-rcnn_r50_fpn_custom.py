# Stage 1 of a Mask R-CNN S4M student on your own data: mmdet's Mask R-CNN
# R-50 FPN (../_base_/models/mask-rcnn_r50_fpn.py, needs
# data/pretrained/resnet50-0676ba61.pth) supervised on the labeled json of
# custom_settings (no structural distillation: SD is defined on
# Mask2Former's queries), with the custom LSJ at your input size, SGD lr
# 0.02 (mmdet's mask-rcnn_r50_fpn_1x_coco.py, for 8 GPUs x 2) over 20k
# iterations (../_base_/schedules/sgd_20k.py). Inherit it and give
# custom_settings (docs/custom_data.md); no SAM is needed.
_base_ = [
    '../_base_/models/mask-rcnn_r50_fpn.py',
    '../_base_/datasets/custom_instance.py',
    '../_base_/schedules/sgd_20k.py', '../_base_/default_runtime.py'
]

# your classes in the box and mask heads
model = dict(
    roi_head=dict(
        bbox_head=dict(num_classes='${num_classes}'),
        mask_head=dict(num_classes='${num_classes}')))
optim_wrapper = dict(optimizer=dict(lr=0.02))
default_hooks = dict(checkpoint=dict(interval=2000))
auto_scale_lr = dict(base_batch_size=16)
