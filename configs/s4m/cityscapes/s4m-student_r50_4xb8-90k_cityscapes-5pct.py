# S4M stage 2 on Cityscapes 5 %: 4 labeled + 4 unlabeled frames a GPU on 4
# GPUs (scripts/cityscapes/train_student.sh IMS_PER_BATCH 16, README "4x
# RTX 3090"), crops 512 x 1024 (h x w), 90k iterations of poly lr, trained
# SyncBN, burn-in 15k iterations (config/add_cfg.py), ARP without scale
# jitter (AUG_STATIC True) and its 3000 px minimum area at 512 x 1024.
_base_ = [
    '../_base_/models/s4m_student_r50.py',
    '../_base_/datasets/semi_cityscapes_instance.py',
    '../_base_/schedules/poly_90k.py', '../_base_/s4m_student_runtime.py'
]

num_classes = 8
crop_h, crop_w = _base_.crop_size
detector = _base_.detector
detector.data_preprocessor.batch_augments = [
    dict(
        type='BatchFixedSizePad',
        size=(crop_h, crop_w),
        img_pad_value=0,
        pad_mask=True,
        mask_pad_value=0,
        pad_seg=False)
]
detector.backbone.update(
    norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=False)
detector.panoptic_head.num_things_classes = num_classes
detector.panoptic_head.loss_cls.class_weight = [1.0] * num_classes + [0.1]
detector.panoptic_fusion_head.num_things_classes = num_classes
model = dict(
    detector=detector,
    data_preprocessor=dict(data_preprocessor=detector.data_preprocessor),
    unsup_batch_augments=[
        dict(_base_.arp, reference_area=crop_h * crop_w, scale_jitter=None),
        _base_.strong_aug
    ])

labeled_dataset = _base_.labeled_dataset
unlabeled_dataset = _base_.unlabeled_dataset
labeled_dataset.ann_file = \
    'annotations/instancesonly_filtered_gtFine_train.1@5.json'
unlabeled_dataset.ann_file = \
    'annotations/instancesonly_filtered_gtFine_train.1@5-unlabeled.json'
train_dataloader = dict(
    dataset=dict(datasets=[labeled_dataset, unlabeled_dataset]))

custom_hooks = _base_.custom_hooks
custom_hooks[0].teacher_checkpoint = \
    'work_dirs/s4m-teacher_r50_2xb2-90k_cityscapes-5pct/iter_90000.pth'
auto_scale_lr = dict(base_batch_size=32)
