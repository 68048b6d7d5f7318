# The embedded real demo: 128 px tiles of a fluorescence nuclei image (the
# stardist==0.9.2 wheel's img2d.tif / mask2d.tif, 125 nuclei), split into
# labeled / unlabeled / val tiles and upsampled x2 for the model; the
# labeled tiles for supervised training.
#
# Training augmentation: scale jitter 0.8-1.25 around the x2 upsampling,
# the four flips (nuclei have no orientation) and a 256 px crop. SAM runs
# in each tile's source frame (the decoded file) and its embeddings are
# kept in a store, so a tile is encoded once however many views it has
# (docs/sam.md, "The source frame"); the views record their
# homography_matrix for that.
#
# Prepare (done by `make demo`; the code: s4m_mm/demo/nuclei_data.py):
#   python tools/dataset_converters/prepare_nuclei_demo.py \
#       --out-dir data/nuclei
_base_ = './instance_loaders.py'

dataset_type = 'NucleiDataset'
data_root = 'data/nuclei/'
input_size = (256, 256)
demo_hint = ('build the demo data with `python tools/dataset_converters/'
             'prepare_nuclei_demo.py --out-dir data/nuclei`')

train_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'flip', 'flip_direction',
                   'homography_matrix')
# the geometric views of training (mmdet's RandomCrop takes (w, h))
train_views = [
    dict(
        type='RandomResize',
        scale=input_size,
        ratio_range=(0.8, 1.25),
        keep_ratio=True),
    dict(
        type='RandomFlip',
        prob=[0.25, 0.25, 0.25],
        direction=['horizontal', 'vertical', 'diagonal']),
    dict(
        type='RandomCrop',
        crop_size=input_size[::-1],
        crop_type='absolute',
        recompute_bbox=True,
        allow_negative_crop=True),
]
train_pipeline = [
    _base_.load_image, _base_.load_annotations, *train_views,
    _base_.drop_empty,
    dict(type='PackDetInputs', meta_keys=train_meta_keys)
]
test_pipeline = [
    _base_.load_image,
    dict(type='Resize', scale=input_size, keep_ratio=True),
    _base_.load_annotations, _base_.pack_test
]

# in the main process, tiles in any order (all are 128 x 128)
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    batch_sampler=None,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/labeled.json',
        data_prefix=dict(img='images/'),
        missing_hint=demo_hint,
        pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/val.json',
        data_prefix=dict(img='images/'),
        missing_hint=demo_hint,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(ann_file=data_root + 'annotations/val.json')
test_evaluator = val_evaluator
