# Your own instance-segmentation data in COCO format: the labeled images for
# supervised training and a val set. Every '${...}' value comes from the
# config's custom_settings (class names, paths, input size), filled in by
# S4MRunner before anything is built (configs/s4m/custom/README.md); the
# class names are checked against each json's categories.
dataset_type = 'S4MCocoDataset'
backend_args = None
metainfo = dict(classes='${classes}')

# Large-scale jitter as the paper's COCO recipe, at your input size: flip,
# resize by 0.1-2.0 of it keeping the ratio, crop to it (RandomCrop takes
# (w, h)); the data preprocessor pads the batch to it (h, w).
train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomResize',
        scale='${input_wh}',
        ratio_range=(0.1, 2.0),
        resize_type='Resize',
        keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_size='${input_wh}',
        crop_type='absolute',
        recompute_bbox=True,
        allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-5, 1e-5), by_mask=True),
    dict(type='PackDetInputs')
]
# the image fit into the input size, its ratio kept
test_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='Resize', scale='${input_wh}', keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]

train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root='${data_root}',
        ann_file='${labeled_ann}',
        data_prefix=dict(img='${labeled_img}'),
        metainfo=metainfo,
        filter_cfg=dict(filter_empty_gt=True),
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
        data_root='${data_root}',
        ann_file='${val_ann}',
        data_prefix=dict(img='${val_img}'),
        metainfo=metainfo,
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    ann_file='${val_ann_file}',
    metric=['bbox', 'segm'],
    backend_args=backend_args)
test_evaluator = val_evaluator
