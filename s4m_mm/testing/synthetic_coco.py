# Copyright (c) s4m-mm authors. All rights reserved.
"""A small synthetic COCO-format instance set for fast tests.

Each image holds a few filled ellipses of distinct classes on a noisy
background; their masks are exact, stored as RLE, so a model, a metric or a
split tool can be exercised in seconds without any download.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np

CLASS_COLOURS = [(230, 60, 60), (60, 200, 60), (60, 90, 230), (220, 200, 50)]


def _ellipse_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    ry, rx = rng.uniform(0.08, 0.22) * h, rng.uniform(0.08, 0.22) * w
    yy, xx = np.mgrid[:h, :w]
    return ((yy - cy) / ry)**2 + ((xx - cx) / rx)**2 <= 1.0


def make_synthetic_coco(
        num_images: int = 8,
        size: Tuple[int, int] = (64, 64),
        classes: Sequence[str] = ('disk', 'blob'),
        max_instances: int = 3,
        seed: int = 0) -> Tuple[Dict, List[np.ndarray]]:
    """Build a COCO dict and its ``(H, W, 3) uint8`` RGB images.

    Later ellipses occlude earlier ones; masks hold only visible pixels and
    instances left with fewer than 10 pixels are not annotated.
    """
    from pycocotools import mask as mask_utils
    rng = np.random.default_rng(seed)
    h, w = size
    images, annotations, pixels = [], [], []
    for img_id in range(1, num_images + 1):
        canvas = rng.integers(0, 40, size=(h, w, 3)).astype(np.uint8)
        masks, labels = [], []
        for _ in range(int(rng.integers(1, max_instances + 1))):
            m = _ellipse_mask(h, w, rng)
            for prev in masks:
                prev &= ~m
            masks.append(m)
            labels.append(int(rng.integers(len(classes))))
        for m, label in zip(masks, labels):
            canvas[m] = CLASS_COLOURS[label % len(CLASS_COLOURS)]
            if m.sum() < 10:
                continue
            rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
            bbox = [float(v) for v in mask_utils.toBbox(rle)]
            rle['counts'] = rle['counts'].decode('ascii')
            annotations.append({
                'id': len(annotations) + 1,
                'image_id': img_id,
                'category_id': label + 1,
                'segmentation': rle,
                'area': int(m.sum()),
                'bbox': bbox,
                'iscrowd': 0,
            })
        images.append({
            'id': img_id,
            'file_name': f'img_{img_id:03d}.png',
            'height': h,
            'width': w
        })
        pixels.append(canvas)
    categories = [{
        'id': i + 1,
        'name': name
    } for i, name in enumerate(classes)]
    return {
        'images': images,
        'annotations': annotations,
        'categories': categories
    }, pixels


def write_synthetic_coco(out_dir: str,
                         ann_name: str = 'train.json',
                         **kwargs) -> str:
    """Write images to ``out_dir/images`` and the json to
    ``out_dir/annotations/ann_name``; return the json path."""
    from PIL import Image
    coco, pixels = make_synthetic_coco(**kwargs)
    os.makedirs(osp.join(out_dir, 'images'), exist_ok=True)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    for info, img in zip(coco['images'], pixels):
        Image.fromarray(img).save(osp.join(out_dir, 'images',
                                           info['file_name']))
    path = osp.join(out_dir, 'annotations', ann_name)
    with open(path, 'w') as f:
        json.dump(coco, f)
    return path


def write_own_data(out_dir: str,
                   classes: Sequence[str] = ('disk', 'blob'),
                   num_labeled: int = 4,
                   num_unlabeled: int = 4,
                   num_val: int = 2,
                   size: Tuple[int, int] = (64, 64),
                   seed: int = 0) -> Dict[str, str]:
    """Synthetic data laid out as a user with their own data has it:
    ``annotations/{labeled,val}.json`` over ``images/`` and a folder
    ``unlabeled/`` of PNGs with no annotation file.

    Returns:
        dict: the ``custom_settings`` paths of that layout (``data_root``,
        ``labeled_ann``, ``labeled_img``, ``unlabeled_img``, ``val_ann``,
        ``val_img``) and ``classes``.
    """
    from PIL import Image
    total = num_labeled + num_unlabeled + num_val
    coco, pixels = make_synthetic_coco(
        num_images=total, size=size, classes=classes, seed=seed)
    for sub in ('images', 'unlabeled', 'annotations'):
        os.makedirs(osp.join(out_dir, sub), exist_ok=True)
    parts = dict(
        labeled=range(num_labeled),
        unlabeled=range(num_labeled, num_labeled + num_unlabeled),
        val=range(num_labeled + num_unlabeled, total))
    for name in ('labeled', 'val'):
        images = [coco['images'][i] for i in parts[name]]
        ids = {img['id'] for img in images}
        with open(osp.join(out_dir, 'annotations', f'{name}.json'),
                  'w') as f:
            json.dump(
                dict(
                    coco,
                    images=images,
                    annotations=[
                        a for a in coco['annotations']
                        if a['image_id'] in ids
                    ]), f)
    for name, folder in (('labeled', 'images'), ('val', 'images'),
                         ('unlabeled', 'unlabeled')):
        for i in parts[name]:
            Image.fromarray(pixels[i]).save(
                osp.join(out_dir, folder, coco['images'][i]['file_name']))
    return dict(
        classes=tuple(classes),
        data_root=out_dir.rstrip('/') + '/',
        labeled_ann='annotations/labeled.json',
        labeled_img='images/',
        unlabeled_img='unlabeled/',
        val_ann='annotations/val.json',
        val_img='images/')
