# S4M stage 2 on Cityscapes 5 %: 4 labeled + 4 unlabeled images a GPU on 4
# GPUs, 512 x 1024 crops, burn-in 15k iterations, EMA 0.9996, ARP without
# scale jitter, minimum pasted area 3000 px at 512 x 1024.
# Paper (SAM 2 Hiera-L): 30.1 mask AP.
_base_ = [
    '../_base_/models/s4m_student_r50.py',
    '../_base_/datasets/cityscapes_semi_instance.py',
    '../_base_/schedules/poly_90k.py', '../_base_/default_runtime.py'
]

num_classes = 8
crop_size = (512, 1024)
detector = _base_.detector
detector.data_preprocessor.batch_augments = [
    dict(
        type='BatchFixedSizePad',
        size=crop_size,
        img_pad_value=0,
        pad_mask=True,
        mask_pad_value=0,
        pad_seg=False)
]
detector.backbone.norm_cfg = dict(type='SyncBN', requires_grad=True)
detector.panoptic_head.num_things_classes = num_classes
detector.panoptic_head.loss_cls.class_weight = [1.0] * num_classes + [0.1]
detector.panoptic_fusion_head.num_things_classes = num_classes
model = dict(
    detector=detector,
    data_preprocessor=dict(data_preprocessor=detector.data_preprocessor),
    pseudo_label_mix=dict(reference_area=512 * 1024, scale_jitter=None))

train_dataloader = _base_.semi_train_dataloader
train_dataloader.dataset.datasets[0].ann_file = \
    'annotations/instancesonly_filtered_gtFine_train.1@5.json'
train_dataloader.dataset.datasets[1].ann_file = \
    'annotations/instancesonly_filtered_gtFine_train.1@5-unlabeled.json'

custom_hooks = [
    dict(
        type='TeacherScheduleHook',
        teacher_checkpoint='work_dirs/s4m-teacher_r50_2xb2-90k_cityscapes-'
        '5pct/iter_90000.pth',
        burn_in=15000,
        decay=0.9996),
    dict(type='PseudoLabelRefineHook', enabled=True, start_iter=0),
    # teacher and student identical in every process, SAM outside DDP
    dict(
        type='ReplicaCheckHook',
        interval=5000,
        modules=('teacher', 'student'))
]
# Opt-in pseudo-label quality: the unlabeled json of the split keeps the
# gtFine train GT. To log the mask IoU / precision / recall of the
# teacher's, the SAM-refined and the ARP-mixed pseudo-labels against it
# (plq_* in the log and vis_data/scalars.json; the GT never enters
# training), add
#     dict(type='PseudoLabelQualityHook', interval=500)
# to custom_hooks (ann_file defaults to the unlabeled dataset's json).
auto_scale_lr = dict(base_batch_size=32)
