# Cityscapes instance segmentation (8 thing classes): the S4M paper's
# labeled train frames for supervised training, val for evaluation with the
# Cityscapes evaluator (cityscapesscripts: the paper's mask AP) and COCO AP.
#
# Prepare: Cityscapes (leftImg8bit, gtFine) from
# https://www.cityscapes-dataset.com in data/cityscapes; convert it with
# mmdet's .mim/tools/dataset_converters/cityscapes.py, then
#   python tools/dataset_converters/split_cityscapes_semi.py \
#       data/cityscapes/annotations/instancesonly_filtered_gtFine_train.json
_base_ = './instance_loaders.py'

dataset_type = 'S4MCityscapesDataset'
data_root = 'data/cityscapes/'
crop_size = (512, 1024)  # (h, w), as detectron2's INPUT.CROP.SIZE
split_hint = (
    'Cityscapes goes in data/cityscapes (https://www.cityscapes-dataset.com); '
    'convert it with mmdet\'s tools/dataset_converters/cityscapes.py and '
    'create the split with `python tools/dataset_converters/'
    'split_cityscapes_semi.py data/cityscapes/annotations/'
    'instancesonly_filtered_gtFine_train.json`')

# Mask2Former's mask_former_instance mapper: shorter side drawn from
# 512..2048 (step 0.1 x 1024), longer side <= 4096, crop 512 x 1024, SSD
# colour jitter (detectron2's ColorAugSSDTransform: ColorAugSSD, not mmdet's
# PhotoMetricDistortion, which also swaps channels), flip. mmdet's
# RandomCrop reads crop_size as (w, h). The unlabeled views of stage 2 take
# the same multi-scale crop (_base_/datasets/semi_cityscapes_instance.py).
multi_scale_crop = [
    dict(
        type='RandomChoiceResize',
        scales=[(4096, int(x * 0.1 * 1024)) for x in range(5, 21)],
        keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_size=crop_size[::-1],
        crop_type='absolute',
        recompute_bbox=True,
        allow_negative_crop=True),
]
train_pipeline = [
    _base_.load_image, _base_.load_annotations, *multi_scale_crop,
    dict(type='ColorAugSSD'),
    dict(type='RandomFlip', prob=0.5), _base_.drop_empty,
    dict(type='PackDetInputs')
]
# detectron2's MIN_SIZE_TEST 1024 / MAX_SIZE_TEST 2048: the 1024 x 2048
# frames at their size
test_pipeline = [
    _base_.load_image,
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    _base_.load_annotations, _base_.pack_test
]

# Frames without (non-crowd) annotations are dropped (detectron2's
# FILTER_EMPTY_ANNOTATIONS); no minimum image size.
train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instancesonly_filtered_gtFine_train.1@5.json',
        data_prefix=dict(img='leftImg8bit/train/'),
        missing_hint=split_hint,
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instancesonly_filtered_gtFine_val.json',
        data_prefix=dict(img='leftImg8bit/val/'),
        missing_hint=split_hint,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# Two metrics by name: `cityscapes`, cityscapes/mAP, is the paper's number
# (detectron2's CityscapesInstanceEvaluator), `coco` the COCO AP beside it;
# e.g. --cfg-options test_evaluator.metrics.cityscapes.outfile_prefix=DIR
# keeps the predictions' PNGs (a temporary directory otherwise). The ground
# truth is found from each image path (leftImg8bit ->
# gtFine/..._gtFine_instanceIds.png).
val_evaluator = dict(
    _delete_=True,
    type='NamedEvaluator',
    metrics=dict(
        coco=dict(
            _base_.val_evaluator,
            ann_file=data_root +
            'annotations/instancesonly_filtered_gtFine_val.json'),
        cityscapes=dict(
            type='CityScapesMetric',
            outfile_prefix=None,
            seg_prefix=data_root + 'gtFine/val',
            backend_args=_base_.backend_args)))
test_evaluator = val_evaluator
