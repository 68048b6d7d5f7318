# S4M stage 2 on COCO 1 %: 3 labeled + 3 unlabeled images a GPU on 4 GPUs
# (scripts/coco/train_student.sh IMS_PER_BATCH 12, README "4x RTX A6000"),
# LSJ 1024, detectron2's 368,750-iteration schedule. Deploy the student
# with tools/model_converters/s4m_to_mask2former.py.
_base_ = [
    '../_base_/models/s4m_student_r50.py',
    '../_base_/datasets/semi_coco_instance.py',
    '../_base_/schedules/mstep_368750iter.py',
    '../_base_/s4m_student_runtime.py'
]

labeled_dataset = _base_.labeled_dataset
unlabeled_dataset = _base_.unlabeled_dataset
labeled_dataset.ann_file = 'semi_anns/instances_train2017.1@1.json'
unlabeled_dataset.ann_file = 'semi_anns/instances_train2017.1@1-unlabeled.json'
train_dataloader = dict(
    dataset=dict(datasets=[labeled_dataset, unlabeled_dataset]))

# scripts/coco/train_student.sh: BURNIN_ITER 25000, checkpoints and
# evaluation every 7000 iterations
custom_hooks = _base_.custom_hooks
custom_hooks[0].update(
    teacher_checkpoint='work_dirs/s4m-teacher_r50_2xb8-368750iter_coco-1pct/'
    'iter_368750.pth',
    burn_in=25000)
train_cfg = dict(val_interval=7000)
default_hooks = dict(checkpoint=dict(interval=7000))
auto_scale_lr = dict(base_batch_size=24)
