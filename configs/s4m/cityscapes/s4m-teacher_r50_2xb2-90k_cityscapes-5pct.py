# S4M stage 1 on Cityscapes 5 %: batch 4 (2 GPUs x 2), crops 512 x 1024,
# 90k iterations. Paper (SAM 2 Hiera-L): 17.2 mask AP for this teacher.
_base_ = [
    '../_base_/models/s4m_teacher_r50.py',
    '../_base_/datasets/cityscapes_semi_instance.py',
    '../_base_/schedules/poly_90k.py', '../_base_/default_runtime.py'
]

num_classes = 8
crop_size = (512, 1024)
model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(
            type='BatchFixedSizePad',
            size=crop_size,
            img_pad_value=0,
            pad_mask=True,
            mask_pad_value=0,
            pad_seg=False)
    ]),
    backbone=dict(norm_cfg=dict(type='SyncBN', requires_grad=True)),
    panoptic_head=dict(
        num_things_classes=num_classes,
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(num_things_classes=num_classes))

train_dataloader = dict(
    dataset=dict(
        ann_file='annotations/instancesonly_filtered_gtFine_train.1@5.json'))
auto_scale_lr = dict(base_batch_size=4)
