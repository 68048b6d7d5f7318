# S4M stage 1 on Cityscapes 5 %: batch 4 as 2 GPUs x 2
# (scripts/cityscapes/train_teacher.sh IMS_PER_BATCH 4, README "2x RTX
# 3090"), crops 512 x 1024 (h x w), 90k iterations of poly lr, SyncBN
# trained with batch statistics (_base_/models/mask2former_r50_cityscapes.py).
_base_ = [
    '../_base_/models/mask2former_r50_cityscapes.py',
    '../_base_/models/sd_teacher.py',
    '../_base_/datasets/cityscapes_instance.py',
    '../_base_/schedules/poly_90k.py', '../_base_/default_runtime.py'
]

model = _base_.sd_teacher
auto_scale_lr = dict(base_batch_size=4)
