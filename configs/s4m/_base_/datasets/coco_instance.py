# COCO 2017 instance segmentation: the labeled part of a split of train2017
# (mmdet's names: semi_anns/instances_train2017.{fold}@{percent}.json) for
# supervised training, val2017 for evaluation.
#
# Prepare: COCO 2017 from https://cocodataset.org in data/coco, then
#   python tools/dataset_converters/split_coco_semi.py \
#       data/coco/annotations/instances_train2017.json \
#       --out-dir data/coco/semi_anns --percents 1 2 5 10
_base_ = ['./instance_loaders.py', './coco_split.py']

dataset_type = 'S4MCocoDataset'
data_root = 'data/coco/'
crop_size = (1024, 1024)  # (h, w); square, so RandomCrop's (w, h) agrees

# Large-scale jitter (Mask2Former's coco_instance_lsj mapper): flip, resize
# by 0.1-2.0 of 1024 keeping the ratio, crop 1024 x 1024; the data
# preprocessor pads the batch to 1024 x 1024. The unlabeled views of stage
# 2 take the same geometry (_base_/datasets/semi_coco_instance.py).
lsj = [
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomResize',
        scale=crop_size,
        ratio_range=(0.1, 2.0),
        resize_type='Resize',
        keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_size=crop_size,
        crop_type='absolute',
        recompute_bbox=True,
        allow_negative_crop=True),
]
train_pipeline = [
    _base_.load_image, _base_.load_annotations, *lsj, _base_.drop_empty,
    dict(type='PackDetInputs')
]
# detectron2's test resize: shorter side 800, longer side <= 1333
test_pipeline = [
    _base_.load_image,
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    _base_.load_annotations, _base_.pack_test
]

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='semi_anns/instances_train2017.1@1.json',
        data_prefix=dict(img='train2017/'),
        missing_hint=_base_.split_hint,
        pipeline=train_pipeline))
# stage 2's unlabeled images of the same split (each semi base gives them
# its unlabeled views' pipeline)
unlabeled_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file='semi_anns/instances_train2017.1@1-unlabeled.json',
    data_prefix=dict(img='train2017/'),
    filter_cfg=dict(filter_empty_gt=False),
    missing_hint=_base_.split_hint,
    backend_args=_base_.backend_args)
# mmdet's semi-supervised COCO loader, for the stage 2 of box-based
# students (mmdet::_base_/datasets/semi_coco_detection.py): 5 images a GPU,
# 1 labeled : 4 unlabeled (GroupMultiSourceSampler), 5 workers
mmdet_semi_loader = dict(
    batch_size=5,
    num_workers=5,
    persistent_workers=True,
    sampler=dict(
        type='GroupMultiSourceSampler', batch_size=5, source_ratio=[1, 4]))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        missing_hint=_base_.split_hint,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(
    ann_file=data_root + 'annotations/instances_val2017.json',
    format_only=False)
test_evaluator = val_evaluator
