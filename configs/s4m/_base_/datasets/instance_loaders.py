# What the instance-segmentation dataset bases of this package share
# (COCO-format annotations): the loaders, the pipeline steps every pipeline
# uses and the COCO evaluator. A dataset base inherits it and sets its
# dataset type, paths, pipelines and hints.
backend_args = None

load_image = dict(
    type='LoadImageFromFile', to_float32=True, backend_args=backend_args)
load_annotations = dict(type='LoadAnnotations', with_bbox=True, with_mask=True)
# instances left empty by a crop are dropped
drop_empty = dict(
    type='FilterAnnotations', min_gt_bbox_wh=(1e-5, 1e-5), by_mask=True)
pack_test = dict(
    type='PackDetInputs',
    meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
               'scale_factor'))

# Images without annotations are dropped (detectron2's
# FILTER_EMPTY_ANNOTATIONS); no minimum image size.
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(filter_cfg=dict(filter_empty_gt=True),
                 backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(test_mode=True, backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric', metric=['bbox', 'segm'], backend_args=backend_args)
test_evaluator = val_evaluator
