# S4M stage 2 on COCO 1 %: 3 labeled + 3 unlabeled images a GPU on 4 GPUs
# (scripts/coco/train_student.sh IMS_PER_BATCH 12, README "4x RTX A6000"),
# LSJ 1024, detectron2's 368,750-iteration schedule, burn-in 25k
# iterations, checkpoints and evaluation every 7000 (the same script).
# Deploy the student with tools/model_converters/s4m_to_mmdet.py.
_base_ = [
    '../_base_/models/mask2former_r50.py', '../_base_/models/s4m.py',
    '../_base_/datasets/semi_coco_instance.py',
    '../_base_/schedules/mstep_368750iter.py',
    '../_base_/s4m_student_runtime.py'
]

model = dict(_base_.s4m, _delete_=True, detector=_base_.model)
default_hooks = dict(
    teacher_schedule=dict(
        teacher_checkpoint='work_dirs/s4m-teacher_r50_2xb8-368750iter_'
        'coco-1pct/iter_368750.pth',
        burn_in=25000),
    checkpoint=dict(interval=7000))
train_cfg = dict(val_interval=7000)
auto_scale_lr = dict(base_batch_size=24)
