# S4M stage 1 on COCO 10 %.
_base_ = './s4m-teacher_r50_2xb8-368750iter_coco-1pct.py'

train_dataloader = dict(
    dataset=dict(ann_file='semi_anns/instances_train2017.1@10.json'))
