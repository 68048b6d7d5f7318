# Stage 1 of an RTMDet-Ins-s S4M student on COCO 5 %.
_base_ = './rtmdet-ins_s_8xb32-300e_coco-1pct.py'

train_dataloader = dict(
    dataset=dict(ann_file='semi_anns/instances_train2017.1@5.json'))
