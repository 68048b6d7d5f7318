# S4M stage 1 on Cityscapes 20 %.
_base_ = './s4m-teacher_r50_2xb2-90k_cityscapes-5pct.py'

train_dataloader = dict(
    dataset=dict(
        ann_file='annotations/instancesonly_filtered_gtFine_train.1@20.json'))
