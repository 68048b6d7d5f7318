# S4M stage 1 on COCO 10 %. Paper (SAM 2 Hiera-L): 30.3 mask AP.
_base_ = './s4m-teacher_r50_8xb2-90k_coco-1pct.py'

train_dataloader = dict(
    dataset=dict(ann_file='semi_anns/instances_train2017.1@10.json'))
