# Stage 1 of a Mask R-CNN S4M student on COCO 2 %.
_base_ = './mask-rcnn_r50_fpn_8xb2-180k_coco-1pct.py'

train_dataloader = dict(
    dataset=dict(ann_file='semi_anns/instances_train2017.1@2.json'))
