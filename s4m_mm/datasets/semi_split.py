# Copyright (c) s4m-mm authors. All rights reserved.
"""Labeled / unlabeled splits of COCO-format instance files.

File names follow mmdet's semi-supervised convention:
``{stem}.{fold}@{percent}.json`` for the labeled part and
``{stem}.{fold}@{percent}-unlabeled.json`` for the rest.
"""
import os.path as osp
import re
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np

from .coco_validation import AnnotationError, validate_coco_dict

CITYSCAPES_PERCENTS = (5, 10, 20, 30)
CITYSCAPES_SPLIT_DIR = osp.join(osp.dirname(__file__), 'splits', 'cityscapes')


def check_percent(percent: float) -> float:
    """Return ``percent`` as a float, or raise if it is not in (0, 100)."""
    try:
        value = float(percent)
    except (TypeError, ValueError):
        raise ValueError(f'percent must be a number in (0, 100), '
                         f'got {percent!r}') from None
    if not 0 < value < 100:
        raise ValueError(f'percent must be in (0, 100), got {percent!r}')
    return value


def format_percent(percent: float) -> str:
    """``1.0 -> '1'``, ``0.5 -> '0.5'``: the token used in file names."""
    return f'{percent:g}'


def split_file_names(stem: str, fold: int, percent: float) -> Tuple[str, str]:
    """mmdet's names: ``(stem.fold@pct.json, stem.fold@pct-unlabeled.json)``.
    """
    tag = f'{stem}.{fold}@{format_percent(percent)}'
    return f'{tag}.json', f'{tag}-unlabeled.json'


def subset_by_image_ids(data: Dict, image_ids: Iterable[int]) -> Dict:
    """A copy of a COCO dict restricted to ``image_ids`` and their
    annotations, keeping every other top-level key (info, licenses,
    categories) as it is and the original order of images."""
    keep = set(image_ids)
    out = {k: v for k, v in data.items() if k not in ('images', 'annotations')}
    out['images'] = [img for img in data['images'] if img['id'] in keep]
    out['annotations'] = [
        a for a in data.get('annotations', []) if a['image_id'] in keep
    ]
    return out


def split_coco(data: Dict,
               percent: float,
               fold: int = 1,
               seed: int = 0,
               source: str = '<dict>') -> Tuple[Dict, Dict]:
    """Split a COCO dict into a labeled ``percent`` % and an unlabeled rest.

    The labeled images are drawn uniformly without replacement by a generator
    seeded with ``(seed, fold)``: the same inputs give the same split, and
    different folds give different splits. At least one image is labeled and
    at least one is left unlabeled.

    Returns:
        tuple[dict, dict]: (labeled, unlabeled) COCO dicts. Every image is in
        exactly one of them, with all of its annotations.
    """
    percent = check_percent(percent)
    validate_coco_dict(data, source)
    ids = np.array(sorted(img['id'] for img in data['images']))
    if len(ids) < 2:
        raise AnnotationError(
            f'{source}: {len(ids)} image(s); a split needs at least 2')
    num_labeled = int(round(len(ids) * percent / 100))
    num_labeled = min(max(num_labeled, 1), len(ids) - 1)
    rng = np.random.default_rng([seed, fold])
    labeled_ids = rng.choice(ids, size=num_labeled, replace=False).tolist()
    labeled_set = set(labeled_ids)
    unlabeled_ids = [i for i in ids.tolist() if i not in labeled_set]
    return (subset_by_image_ids(data, labeled_set),
            subset_by_image_ids(data, unlabeled_ids))


def read_cityscapes_list(percent: int,
                         split_dir: str = CITYSCAPES_SPLIT_DIR) -> List[str]:
    """The paper's labeled Cityscapes images for ``percent`` as frame keys
    ``city_seq_frame`` (e.g. ``aachen_000000_000019``)."""
    if percent not in CITYSCAPES_PERCENTS:
        raise ValueError(f'Cityscapes splits exist for percent in '
                         f'{CITYSCAPES_PERCENTS}, got {percent!r}')
    path = osp.join(split_dir, f'perc_{percent}.txt')
    with open(path, encoding='utf-8') as f:
        return [cityscapes_frame_key(line) for line in f if line.strip()]


_FRAME = re.compile(r'([a-z-]+_\d{6}_\d{6})')


def cityscapes_frame_key(name: str) -> str:
    """``.../bremen_000041_000019_gtFine_instanceIds.png`` or
    ``bremen/bremen_000041_000019_leftImg8bit.png`` -> the frame key."""
    base = osp.basename(name.strip())
    match = _FRAME.match(base)
    if match is None:
        raise ValueError(f'{name!r} is not a Cityscapes file name '
                         '(expected city_xxxxxx_yyyyyy_...)')
    return match.group(1)


def split_cityscapes(data: Dict,
                     labeled_keys: Sequence[str],
                     source: str = '<dict>') -> Tuple[Dict, Dict]:
    """Split mmdet's converted Cityscapes train json by a list of frames.

    Raises:
        AnnotationError: if a listed frame is not an image of ``data``.
    """
    validate_coco_dict(data, source)
    key_to_id = {
        cityscapes_frame_key(img['file_name']): img['id']
        for img in data['images']
    }
    missing = [k for k in labeled_keys if k not in key_to_id]
    if missing:
        raise AnnotationError(
            f'{source}: {len(missing)} labeled frames of the split list are '
            f'not among its images, e.g. {missing[:3]}; is this the '
            'converted train split (instancesonly_filtered_gtFine_train.json)?'
        )
    labeled = {key_to_id[k] for k in labeled_keys}
    unlabeled = [i for i in key_to_id.values() if i not in labeled]
    return (subset_by_image_ids(data, labeled),
            subset_by_image_ids(data, unlabeled))
