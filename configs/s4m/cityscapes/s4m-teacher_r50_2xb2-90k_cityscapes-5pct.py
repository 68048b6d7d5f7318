# S4M stage 1 on Cityscapes 5 %: batch 4 as 2 GPUs x 2
# (scripts/cityscapes/train_teacher.sh IMS_PER_BATCH 4, README "2x RTX
# 3090"), crops 512 x 1024 (h x w), 90k iterations of poly lr. BatchNorm
# trains with batch statistics, synchronised over the GPUs (RESNETS.NORM
# SyncBN of Base-Cityscapes-InstanceSegmentation.yaml).
_base_ = [
    '../_base_/models/s4m_teacher_r50.py',
    '../_base_/datasets/cityscapes_instance.py',
    '../_base_/schedules/poly_90k.py', '../_base_/default_runtime.py'
]

num_classes = 8
model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(
            type='BatchFixedSizePad',
            size=_base_.crop_size,
            img_pad_value=0,
            pad_mask=True,
            mask_pad_value=0,
            pad_seg=False)
    ]),
    backbone=dict(
        norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=False),
    panoptic_head=dict(
        num_things_classes=num_classes,
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(num_things_classes=num_classes))

train_dataloader = dict(
    batch_size=2,
    dataset=dict(
        ann_file='annotations/instancesonly_filtered_gtFine_train.1@5.json'))
auto_scale_lr = dict(base_batch_size=4)
