# Copyright (c) s4m-mm authors. All rights reserved.
"""Unlabeled images from a folder or a list, with no annotation file."""
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image

from mmdet.registry import DATASETS, TRANSFORMS
from s4m_mm.datasets import UnlabeledImageFolder, image_folder


def write_image(path, size_hw, exif_orientation=None, seed=0):
    os.makedirs(osp.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    img = Image.fromarray(
        rng.integers(0, 255, (*size_hw, 3), dtype=np.uint8))
    if exif_orientation is None:
        img.save(path)
    else:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        img.save(path, exif=exif)


@pytest.fixture
def folder(tmp_path):
    """``root/unlabeled``: b.png, a.jpg, sub/c.png (30 x 50), d.txt."""
    root = tmp_path / 'root'
    write_image(str(root / 'unlabeled' / 'b.png'), (30, 50))
    write_image(str(root / 'unlabeled' / 'a.jpg'), (20, 40))
    write_image(str(root / 'unlabeled' / 'sub' / 'c.png'), (30, 50))
    (root / 'unlabeled' / 'd.txt').write_text('not an image')
    return str(root)


def build(root, **kwargs):
    init_default_scope('mmdet')
    cfg = dict(
        type='UnlabeledImageFolder',
        data_root=root + '/',
        data_prefix=dict(img='unlabeled/'),
        metainfo=dict(classes=('disk', )),
        pipeline=[])
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def names(dataset):
    return [
        osp.relpath(dataset.get_data_info(i)['img_path'],
                    osp.join(dataset.data_root, 'unlabeled'))
        for i in range(len(dataset))
    ]


def test_folder_is_scanned_recursively_in_a_stable_order(folder):
    dataset = build(folder)
    assert isinstance(dataset, UnlabeledImageFolder)
    assert names(dataset) == ['a.jpg', 'b.png', 'sub/c.png']
    info = dataset.get_data_info(0)
    assert (info['img_id'], info['height'], info['width']) == (0, 20, 40)
    assert info['instances'] == []
    assert dataset.metainfo['classes'] == ('disk', )
    assert names(build(folder)) == names(dataset)  # another process
    assert names(build(folder, recursive=False)) == ['a.jpg', 'b.png']
    assert names(build(folder, extensions=('.PNG', ))) == [
        'b.png', 'sub/c.png'
    ]


def test_a_text_list_keeps_its_order_and_comments_are_skipped(folder):
    with open(osp.join(folder, 'list.txt'), 'w') as f:
        f.write('# unlabeled images\nsub/c.png\n\na.jpg\n')
    assert names(build(folder, ann_file='list.txt')) == ['sub/c.png', 'a.jpg']
    with open(osp.join(folder, 'bad.txt'), 'w') as f:
        f.write('a.jpg\nmissing.png\n')
    with pytest.raises(ValueError, match=r'(?s)1 of 2 files.*missing\.png: no '
                       'such file'):
        build(folder, ann_file='bad.txt')
    with pytest.raises(FileNotFoundError, match='nolist.txt'):
        build(folder, ann_file='nolist.txt')


def test_exif_rotation_gives_the_size_the_pipeline_loads(tmp_path):
    """A 20 x 40 JPEG whose EXIF says "rotate 90": OpenCV, in mmdet's
    LoadImageFromFile, loads it 40 x 20."""
    root = str(tmp_path)
    write_image(osp.join(root, 'unlabeled', 'r.jpg'), (20, 40),
                exif_orientation=6)
    info = build(root).get_data_info(0)
    assert (info['height'], info['width']) == (40, 20)
    load = TRANSFORMS.build(dict(type='LoadImageFromFile'))
    assert load(dict(img_path=info['img_path']))['img'].shape[:2] == (40, 20)


def test_unreadable_files_are_refused_naming_each(folder):
    broken = osp.join(folder, 'unlabeled', 'broken.png')
    with open(broken, 'wb') as f:
        f.write(b'\x89PNG not really')
    empty = osp.join(folder, 'unlabeled', 'empty.jpg')
    open(empty, 'w').close()
    with pytest.raises(ValueError) as err:
        build(folder)
    msg = str(err.value)
    assert '2 of 5 files are not readable images' in msg
    assert f'{broken}: not a readable image' in msg
    assert f'{empty}: empty file (0 bytes)' in msg
    assert 'skip_invalid=True' in msg


def test_skip_invalid_lists_and_counts_what_it_leaves_out(
        folder, monkeypatch):
    broken = osp.join(folder, 'unlabeled', 'broken.png')
    with open(broken, 'wb') as f:
        f.write(b'GIF89a')
    logged = []
    monkeypatch.setattr(image_folder, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    dataset = build(folder, skip_invalid=True)
    assert names(dataset) == ['a.jpg', 'b.png', 'sub/c.png']
    (msg, ) = logged
    assert 'left out 1 of 4 files' in msg and broken in msg


def test_an_empty_or_missing_folder_is_an_error(tmp_path):
    os.makedirs(tmp_path / 'unlabeled' / 'sub')
    (tmp_path / 'unlabeled' / 'notes.txt').write_text('x')
    with pytest.raises(ValueError,
                       match=r'no images in the folder or its subfolders'):
        build(str(tmp_path))
    with pytest.raises(FileNotFoundError, match='nowhere'):
        build(str(tmp_path), data_prefix=dict(img='nowhere/'))
    with pytest.raises(ValueError, match='extensions'):
        build(str(tmp_path), extensions='.png')


def test_it_joins_a_labeled_coco_dataset(own_data):
    """Stage 2's ConcatDataset of the labeled json and the folder."""
    init_default_scope('mmdet')
    classes = own_data['classes']
    root = own_data['data_root']
    labeled = dict(
        type='S4MCocoDataset',
        data_root=root,
        ann_file=own_data['labeled_ann'],
        data_prefix=dict(img=own_data['labeled_img']),
        metainfo=dict(classes=classes),
        pipeline=[])
    unlabeled = dict(
        type='UnlabeledImageFolder',
        data_root=root,
        data_prefix=dict(img=own_data['unlabeled_img']),
        metainfo=dict(classes=classes),
        pipeline=[])
    both = DATASETS.build(
        dict(
            type='ConcatDataset',
            ignore_keys=['palette'],
            datasets=[labeled, unlabeled]))
    assert [len(d) for d in both.datasets] == [4, 4]
    assert both.get_data_info(4)['instances'] == []
