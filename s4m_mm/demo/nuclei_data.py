# Copyright (c) s4m-mm authors. All rights reserved.
"""The embedded real demo data: fluorescence nuclei as a COCO-format set.

Source: ``stardist/data/images/img2d.tif`` and ``mask2d.tif`` in the PyPI
wheel ``stardist==0.9.2`` (BSD-3-Clause): a 512 x 512 fluorescence image from
the 2018 Data Science Bowl (stage 1 training set, CC0 / Kaggle) with 125
labelled nuclei. The wheel is fetched with ``pip download --no-deps`` (no
stardist install) and the two files are read straight from the zip.

The image is cut into non-overlapping square tiles. Tiles are assigned to
``labeled``, ``unlabeled`` and ``val`` by a seeded permutation. The unlabeled
part is written twice: without annotations (what training sees) and with its
ground truth in a separate file, for measuring pseudo-labels.

For k-fold evaluation (:func:`fold_tiles`, the component study) the tiles are
split into K folds, fold ``f``'s tiles are ``val`` and the labeled, ``dev``
(held out for early stopping) and unlabeled tiles come from the others.
"""
import io
import json
import os
import os.path as osp
import subprocess
import sys
import zipfile
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

STARDIST_VERSION = '0.9.2'
# data/cache/stardist of the source checkout (the package is installed
# editable); the set-up downloads the wheel there.
DEFAULT_CACHE = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'data',
    'cache', 'stardist')
STARDIST_IMAGE = 'stardist/data/images/img2d.tif'
STARDIST_MASK = 'stardist/data/images/mask2d.tif'
PARTS = ('labeled', 'unlabeled', 'val')
CATEGORIES = [{'id': 1, 'name': 'nucleus', 'supercategory': 'cell'}]
PROVENANCE = (
    f'Tiles of stardist=={STARDIST_VERSION} {STARDIST_IMAGE} and '
    f'{STARDIST_MASK} (wheel licence BSD-3-Clause; image from the 2018 Data '
    'Science Bowl, stage 1 training set). Built by s4m-mm '
    'tools/dataset_converters/prepare_nuclei_demo.py.')


def fetch_stardist_wheel(cache_dir: str) -> str:
    """Path of the cached stardist wheel, downloading it once with pip."""
    os.makedirs(cache_dir, exist_ok=True)
    wheels = sorted(f for f in os.listdir(cache_dir)
                    if f.startswith(f'stardist-{STARDIST_VERSION}-')
                    and f.endswith('.whl'))
    if not wheels:
        cmd = [
            sys.executable, '-m', 'pip', 'download', '--no-deps', '-q', '-d',
            cache_dir, f'stardist=={STARDIST_VERSION}'
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(
                f'`{" ".join(cmd)}` failed (exit {result.returncode}):\n'
                f'{result.stderr.strip()}')
        return fetch_stardist_wheel(cache_dir)
    return osp.join(cache_dir, wheels[-1])


def read_stardist_arrays(wheel: str) -> Tuple[np.ndarray, np.ndarray]:
    """``(image, labels)`` from the wheel: ``(H, W)`` fluorescence values and
    ``(H, W)`` integer instance ids (0 = background)."""
    import tifffile
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for member in (STARDIST_IMAGE, STARDIST_MASK):
            if member not in names:
                raise FileNotFoundError(f'{wheel} has no {member}')
        image = tifffile.imread(io.BytesIO(zf.read(STARDIST_IMAGE)))
        labels = tifffile.imread(io.BytesIO(zf.read(STARDIST_MASK)))
    if image.shape != labels.shape or image.ndim != 2:
        raise ValueError(f'{wheel}: image {image.shape} and mask '
                         f'{labels.shape} must be equal 2-D shapes')
    return image, labels.astype(np.int64)


def to_uint8(image: np.ndarray, low: float = 1.0,
             high: float = 99.8) -> np.ndarray:
    """Percentile normalisation of a fluorescence image to ``uint8``."""
    lo, hi = np.percentile(image, [low, high])
    scaled = (image.astype(np.float64) - lo) / max(hi - lo, 1e-8)
    return (np.clip(scaled, 0, 1) * 255).round().astype(np.uint8)


def assign_tiles(num_tiles: int, num_labeled: int, num_val: int,
                 seed: int) -> Dict[str, List[int]]:
    """Seeded assignment of tile indices to the three parts."""
    if num_labeled < 1 or num_val < 1 or num_labeled + num_val >= num_tiles:
        raise ValueError(
            f'{num_tiles} tiles cannot give num_labeled={num_labeled}, '
            f'num_val={num_val} and at least one unlabeled tile')
    order = np.random.default_rng(seed).permutation(num_tiles).tolist()
    return {
        'labeled': sorted(order[:num_labeled]),
        'val': sorted(order[num_labeled:num_labeled + num_val]),
        'unlabeled': sorted(order[num_labeled + num_val:]),
    }


def fold_tiles(num_tiles: int,
               num_folds: int,
               fold: int,
               seed: int,
               num_labeled: int = 3,
               num_dev: int = 0) -> Dict[str, List[int]]:
    """Seeded k-fold assignment of tile indices: the ``val`` tiles of fold
    ``fold`` and the ``labeled``, ``dev`` and ``unlabeled`` tiles drawn from
    the other folds' tiles.

    A seeded permutation of the tiles is cut into ``num_folds`` folds of
    sizes differing by at most one (``np.array_split``), so that over
    ``fold = 0 .. num_folds - 1`` with one ``seed`` every tile is a val tile
    exactly once. The remaining tiles are permuted again (seeded by
    ``(seed, fold)``): the first ``num_labeled`` are labeled, the next
    ``num_dev`` dev, the rest (at least one) unlabeled.
    """
    if not 2 <= num_folds <= num_tiles:
        raise ValueError(f'num_folds must be in [2, {num_tiles}] for '
                         f'{num_tiles} tiles, got {num_folds}')
    if not 0 <= fold < num_folds:
        raise ValueError(f'fold must be in [0, {num_folds - 1}] for '
                         f'num_folds={num_folds}, got {fold}')
    order = np.random.default_rng(seed).permutation(num_tiles)
    val = np.sort(np.array_split(order, num_folds)[fold])
    rest = np.setdiff1d(np.arange(num_tiles), val)
    if num_labeled < 1 or num_dev < 0 or num_labeled + num_dev >= len(rest):
        raise ValueError(
            f'the {len(rest)} tiles outside fold {fold} of {num_folds} cannot '
            f'give num_labeled={num_labeled}, num_dev={num_dev} and at least '
            'one unlabeled tile')
    rest = np.random.default_rng([seed, fold]).permutation(rest)
    return {
        'labeled': sorted(rest[:num_labeled].tolist()),
        'dev': sorted(rest[num_labeled:num_labeled + num_dev].tolist()),
        'unlabeled': sorted(rest[num_labeled + num_dev:].tolist()),
        'val': val.tolist(),
    }


def instance_annotations(labels: np.ndarray, image_id: int, first_ann_id: int,
                         min_area: int) -> Tuple[List[Dict], int]:
    """COCO annotations (RLE) of every instance id in a label tile.

    Instances cut by the tile border keep their visible part; parts smaller
    than ``min_area`` pixels are left out and counted.

    Returns:
        tuple[list[dict], int]: annotations, number of fragments left out.
    """
    from pycocotools import mask as mask_utils
    anns, dropped = [], 0
    for inst_id in np.unique(labels):
        if inst_id == 0:
            continue
        mask = np.asfortranarray((labels == inst_id).astype(np.uint8))
        area = int(mask.sum())
        if area < min_area:
            dropped += 1
            continue
        rle = mask_utils.encode(mask)
        bbox = [float(v) for v in mask_utils.toBbox(rle)]
        rle['counts'] = rle['counts'].decode('ascii')
        anns.append({
            'id': first_ann_id + len(anns),
            'image_id': image_id,
            'category_id': 1,
            'segmentation': rle,
            'area': area,
            'bbox': bbox,
            'iscrowd': 0,
        })
    return anns, dropped


def build_nuclei_dataset(image: np.ndarray,
                         labels: np.ndarray,
                         out_dir: str,
                         tile_size: int = 128,
                         num_labeled: int = 3,
                         num_val: int = 4,
                         min_area: int = 8,
                         seed: int = 0,
                         num_folds: Optional[int] = None,
                         fold: int = 0,
                         num_dev: int = 0) -> Dict:
    """Write the tiles and the COCO files of the demo into ``out_dir``.

    Layout::

        out_dir/images/tile_{row}_{col}.png
        out_dir/annotations/{labeled,unlabeled,unlabeled_gt,val}.json

    With ``num_folds`` the tiles are assigned by :func:`fold_tiles`
    (``num_val`` is not used) and two more files are written:
    ``annotations/dev.json`` (the held-out tiles for early stopping, with
    GT) and ``annotations/all.json`` (every tile with its GT, the same in
    every fold: the ground truth of predictions pooled over the folds).

    Returns:
        dict: a summary (tile counts, instances per part, fragments dropped)
        that is also written to ``out_dir/summary.json``.
    """
    from PIL import Image
    if image.shape != labels.shape:
        raise ValueError(f'image {image.shape} and labels {labels.shape} '
                         'differ in shape')
    h, w = image.shape
    rows, cols = h // tile_size, w // tile_size
    if rows * cols < 3:
        raise ValueError(f'a {h}x{w} image gives {rows * cols} tiles of '
                         f'{tile_size} px; at least 3 are needed')
    pixels = to_uint8(image)
    if num_folds is None:
        if num_dev:
            raise ValueError('num_dev needs num_folds (dev tiles are a part '
                             'of the k-fold split only)')
        parts = assign_tiles(rows * cols, num_labeled, num_val, seed)
    else:
        parts = fold_tiles(rows * cols, num_folds, fold, seed, num_labeled,
                           num_dev)
    os.makedirs(osp.join(out_dir, 'images'), exist_ok=True)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)

    images, anns, dropped, next_ann = {}, {}, 0, 1
    for index in range(rows * cols):
        r, c = divmod(index, cols)
        ys, xs = slice(r * tile_size, (r + 1) * tile_size), slice(
            c * tile_size, (c + 1) * tile_size)
        name = f'tile_{r}_{c}.png'
        Image.fromarray(np.repeat(pixels[ys, xs, None], 3, axis=2)).save(
            osp.join(out_dir, 'images', name))
        images[index] = {
            'id': index + 1,
            'file_name': name,
            'height': tile_size,
            'width': tile_size
        }
        anns[index], n_drop = instance_annotations(labels[ys, xs], index + 1,
                                                   next_ann, min_area)
        next_ann += len(anns[index])
        dropped += n_drop

    def coco(indices: Sequence[int], with_anns: bool) -> Dict:
        return {
            'info': {
                'description': PROVENANCE,
                'tile_size': tile_size,
                'seed': seed
            },
            'images': [images[i] for i in indices],
            'annotations':
            [a for i in indices for a in anns[i]] if with_anns else [],
            'categories': CATEGORIES,
        }

    files = {
        'labeled': coco(parts['labeled'], True),
        'unlabeled': coco(parts['unlabeled'], False),
        'unlabeled_gt': coco(parts['unlabeled'], True),
        'val': coco(parts['val'], True),
    }
    if num_folds is not None:
        files['dev'] = coco(parts['dev'], True)
        files['all'] = coco(range(rows * cols), True)
    for key, content in files.items():
        with open(osp.join(out_dir, 'annotations', f'{key}.json'), 'w') as f:
            json.dump(content, f)
    summary = {
        'provenance': PROVENANCE,
        'tile_size': tile_size,
        'seed': seed,
        'min_area': min_area,
        'fragments_below_min_area': dropped,
        'tiles': {k: len(v) for k, v in parts.items()},
        'instances': {
            k: len(files[k if k != 'unlabeled' else 'unlabeled_gt']
                   ['annotations'])
            for k in (PARTS if num_folds is None else PARTS + ('dev', ))
        },
    }
    if num_folds is not None:
        summary['folds'] = {'num_folds': num_folds, 'fold': fold}
        summary['tile_ids'] = {k: [i + 1 for i in v] for k, v in parts.items()}
    with open(osp.join(out_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    return summary


def rearrange_as_own_data(out_dir: str) -> Dict:
    """Turn a demo dataset of :func:`build_nuclei_dataset` into the layout a
    user with their own data has: a labeled and a val json over
    ``images/``, and the unlabeled tiles in a folder of their own with no
    annotation file::

        out_dir/images/tile_{row}_{col}.png      (labeled and val)
        out_dir/unlabeled/tile_{row}_{col}.png
        out_dir/annotations/{labeled,val}.json

    Returns:
        dict: ``{'labeled': n, 'unlabeled': n, 'val': n}`` image counts.
    """
    ann_dir = osp.join(out_dir, 'annotations')
    with open(osp.join(ann_dir, 'unlabeled.json')) as f:
        unlabeled = json.load(f)['images']
    os.makedirs(osp.join(out_dir, 'unlabeled'), exist_ok=True)
    for image in unlabeled:
        os.replace(
            osp.join(out_dir, 'images', image['file_name']),
            osp.join(out_dir, 'unlabeled', image['file_name']))
    for name in ('unlabeled.json', 'unlabeled_gt.json'):
        os.remove(osp.join(ann_dir, name))
    counts = {'unlabeled': len(unlabeled)}
    for name in ('labeled', 'val'):
        with open(osp.join(ann_dir, f'{name}.json')) as f:
            counts[name] = len(json.load(f)['images'])
    return counts
