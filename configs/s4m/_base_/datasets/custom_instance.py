# Your own instance-segmentation data in COCO format: the labeled images for
# supervised training and a val set. Every '${...}' value comes from the
# config's custom_settings (class names, paths, input size), filled in by
# S4MRunner before anything is built (docs/custom_data.md); the class
# names are checked against each json's categories.
_base_ = './instance_loaders.py'

dataset_type = 'S4MCocoDataset'
metainfo = dict(classes='${classes}')

# Large-scale jitter as the paper's COCO recipe, at your input size: flip,
# resize by 0.1-2.0 of it keeping the ratio, crop to it (RandomCrop takes
# (w, h)); the data preprocessor pads the batch to it (h, w). The unlabeled
# views of stage 2 take the same geometry.
lsj = [
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
]
train_pipeline = [
    _base_.load_image, _base_.load_annotations, *lsj, _base_.drop_empty,
    dict(type='PackDetInputs')
]
# the image fit into the input size, its ratio kept
test_pipeline = [
    _base_.load_image,
    dict(type='Resize', scale='${input_wh}', keep_ratio=True),
    _base_.load_annotations, _base_.pack_test
]

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root='${data_root}',
        ann_file='${labeled_ann}',
        data_prefix=dict(img='${labeled_img}'),
        metainfo=metainfo,
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root='${data_root}',
        ann_file='${val_ann}',
        data_prefix=dict(img='${val_img}'),
        metainfo=metainfo,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(ann_file='${val_ann_file}')
test_evaluator = val_evaluator

# the class placeholders of a Mask2Former's heads, merged into its model
# by the custom configs
custom_heads = dict(
    panoptic_head=dict(
        num_things_classes='${num_classes}',
        loss_cls=dict(class_weight='${class_weight}')),
    panoptic_fusion_head=dict(num_things_classes='${num_classes}'))
