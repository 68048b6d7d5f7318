# S4M stage 1 on COCO 5 %. Paper (SAM 2 Hiera-L): 26.1 mask AP.
_base_ = './s4m-teacher_r50_8xb2-90k_coco-1pct.py'

train_dataloader = dict(
    dataset=dict(ann_file='semi_anns/instances_train2017.1@5.json'))
