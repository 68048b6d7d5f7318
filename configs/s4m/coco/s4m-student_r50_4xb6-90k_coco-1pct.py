# S4M stage 2 on COCO 1 %: 3 labeled + 3 unlabeled images a GPU on 4 GPUs,
# LSJ 1024, burn-in 25k iterations, EMA 0.9996, ARP with scale jitter.
# Paper (SAM 2 Hiera-L): 24.2 mask AP. Deploy the student with
# tools/model_converters/s4m_to_mask2former.py.
_base_ = [
    '../_base_/models/s4m_student_r50.py',
    '../_base_/datasets/coco_semi_instance.py',
    '../_base_/schedules/poly_90k.py', '../_base_/default_runtime.py'
]

train_dataloader = _base_.semi_train_dataloader
train_dataloader.dataset.datasets[0].ann_file = \
    'semi_anns/instances_train2017.1@1.json'
train_dataloader.dataset.datasets[1].ann_file = \
    'semi_anns/instances_train2017.1@1-unlabeled.json'

custom_hooks = [
    dict(
        type='TeacherScheduleHook',
        teacher_checkpoint='work_dirs/s4m-teacher_r50_8xb2-90k_coco-1pct/'
        'iter_90000.pth',
        burn_in=25000,
        decay=0.9996),
    dict(type='PseudoLabelRefineHook', enabled=True, start_iter=0),
    # teacher and student identical in every process, SAM outside DDP
    dict(
        type='ReplicaCheckHook',
        interval=5000,
        modules=('teacher', 'student'))
]
# Opt-in pseudo-label quality: the unlabeled json of the split keeps the
# train2017 GT (loading it takes a few GB of memory in every process). To
# log the mask IoU / precision / recall of the teacher's, the SAM-refined
# and the ARP-mixed pseudo-labels against it (plq_* in the log and
# vis_data/scalars.json; the GT never enters training), add
#     dict(type='PseudoLabelQualityHook', interval=500)
# to custom_hooks (ann_file defaults to the unlabeled dataset's json).
auto_scale_lr = dict(base_batch_size=24)
