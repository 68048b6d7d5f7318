# Cityscapes instance segmentation (8 thing classes): the S4M paper's
# labeled train frames for supervised training, val for evaluation with the
# Cityscapes evaluator (cityscapesscripts: the paper's mask AP) and COCO AP.
#
# Prepare: Cityscapes (leftImg8bit, gtFine) from
# https://www.cityscapes-dataset.com in data/cityscapes; convert it with
# mmdet's .mim/tools/dataset_converters/cityscapes.py, then
#   python tools/dataset_converters/split_cityscapes_semi.py \
#       data/cityscapes/annotations/instancesonly_filtered_gtFine_train.json
dataset_type = 'S4MCityscapesDataset'
data_root = 'data/cityscapes/'
backend_args = None
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
# RandomCrop reads crop_size as (w, h).
train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
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
    dict(type='ColorAugSSD'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-5, 1e-5), by_mask=True),
    dict(type='PackDetInputs')
]
# detectron2's MIN_SIZE_TEST 1024 / MAX_SIZE_TEST 2048: the 1024 x 2048
# frames at their size
test_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]

# Frames without (non-crowd) annotations are dropped (detectron2's
# FILTER_EMPTY_ANNOTATIONS); no minimum image size.
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instancesonly_filtered_gtFine_train.1@5.json',
        data_prefix=dict(img='leftImg8bit/train/'),
        filter_cfg=dict(filter_empty_gt=True),
        missing_hint=split_hint,
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instancesonly_filtered_gtFine_val.json',
        data_prefix=dict(img='leftImg8bit/val/'),
        test_mode=True,
        missing_hint=split_hint,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# cityscapes/mAP is the paper's number (detectron2's
# CityscapesInstanceEvaluator); the predictions' PNGs go to a temporary
# directory unless outfile_prefix names one. The ground truth is found from
# each image path (leftImg8bit -> gtFine/..._gtFine_instanceIds.png).
val_evaluator = [
    dict(
        type='CocoMetric',
        ann_file=data_root +
        'annotations/instancesonly_filtered_gtFine_val.json',
        metric=['bbox', 'segm'],
        backend_args=backend_args),
    dict(
        type='CityScapesMetric',
        outfile_prefix=None,
        seg_prefix=data_root + 'gtFine/val',
        backend_args=backend_args)
]
test_evaluator = val_evaluator
