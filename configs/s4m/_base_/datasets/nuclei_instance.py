# The embedded real demo: 128 px tiles of a fluorescence nuclei image (the
# stardist==0.9.2 wheel's img2d.tif / mask2d.tif, 125 nuclei), split into
# labeled / unlabeled / val tiles and upsampled x2 for the model; the
# labeled tiles for supervised training.
#
# Training augmentation is the four flips (none, horizontal, vertical,
# both): nuclei have no orientation and the microscope fixes their scale.
# The views of an image are then a finite set, so the SAM embeddings of the
# SD teacher and of the refiner are cached (SAMAdapter.embed_cache_size)
# instead of being recomputed every iteration on 2 CPU cores.
#
# Prepare (done by `make demo`):
#   python tools/dataset_converters/prepare_nuclei_demo.py --out-dir data/nuclei
dataset_type = 'NucleiDataset'
data_root = 'data/nuclei/'
backend_args = None
input_size = (256, 256)
demo_hint = ('build the demo data with `python tools/dataset_converters/'
             'prepare_nuclei_demo.py --out-dir data/nuclei`')

train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=input_size, keep_ratio=True),
    dict(
        type='RandomFlip',
        prob=[0.25, 0.25, 0.25],
        direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='Resize', scale=input_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/labeled.json',
        data_prefix=dict(img='images/'),
        filter_cfg=dict(filter_empty_gt=True),
        missing_hint=demo_hint,
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/val.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        missing_hint=demo_hint,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/val.json',
    metric=['bbox', 'segm'],
    backend_args=backend_args)
test_evaluator = val_evaluator
