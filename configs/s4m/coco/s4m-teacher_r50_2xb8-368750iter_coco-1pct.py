# S4M stage 1 on COCO 1 %: batch 16 as 2 GPUs x 8 (the S4M code's COCO
# teacher: scripts/coco/train_teacher.sh, README "2x RTX A6000"), LSJ 1024,
# detectron2's 368,750-iteration schedule.
_base_ = [
    '../_base_/models/mask2former_r50.py', '../_base_/models/sd_teacher.py',
    '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/mstep_368750iter.py', '../_base_/default_runtime.py'
]

model = _base_.sd_teacher
train_dataloader = dict(
    batch_size=8,
    dataset=dict(ann_file='semi_anns/instances_train2017.1@1.json'))
auto_scale_lr = dict(base_batch_size=16)
