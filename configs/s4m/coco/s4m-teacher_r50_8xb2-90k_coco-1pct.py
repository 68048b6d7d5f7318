# S4M stage 1 on COCO 1 %: batch 16 (8 GPUs x 2), LSJ 1024, 90k iterations.
# Paper (SAM 2 Hiera-L): 15.1 mask AP for this teacher.
_base_ = [
    '../_base_/models/s4m_teacher_r50.py',
    '../_base_/datasets/coco_semi_instance.py',
    '../_base_/schedules/poly_90k.py', '../_base_/default_runtime.py'
]

train_dataloader = dict(
    dataset=dict(ann_file='semi_anns/instances_train2017.1@1.json'))
