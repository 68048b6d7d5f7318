# Copyright (c) s4m-mm authors. All rights reserved.
"""Checks that turn a bad COCO-format annotation file into a clear error.

pycocotools accepts a lot silently: an annotation whose ``image_id`` is not in
``images`` is dropped, a class name missing from ``categories`` shrinks the
label space. Both change what a model learns without a word, so every dataset
and tool of this package checks the parsed dict first.
"""
import json
import os.path as osp
from typing import Dict, Iterable, Optional


class AnnotationError(ValueError):
    """A COCO-format annotation file that cannot be used as it is."""


def _preview(values: Iterable, limit: int = 5) -> str:
    values = sorted(values)
    shown = ', '.join(str(v) for v in values[:limit])
    more = f' (and {len(values) - limit} more)' if len(values) > limit else ''
    return f'[{shown}]{more}'


def load_coco_json(path: str, hint: Optional[str] = None) -> Dict:
    """Read a COCO-format json file, naming the file in every failure.

    Args:
        path (str): Path of the json file.
        hint (str, optional): How to obtain the file, appended to the error
            when it does not exist.

    Returns:
        dict: The parsed file, checked with :func:`validate_coco_dict`.
    """
    if not osp.isfile(path):
        msg = f'annotation file {path!r} does not exist'
        if hint:
            msg += f'. {hint}'
        raise FileNotFoundError(msg)
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AnnotationError(
            f'annotation file {path!r} is not valid JSON: {e}') from e
    validate_coco_dict(data, path)
    return data


def validate_coco_dict(data: Dict, source: str = '<dict>') -> None:
    """Check the structure a COCO-format instance file must have.

    Raises :class:`AnnotationError` naming ``source`` and the offending key or
    ids when: it is not a dict; ``images`` is missing or empty; image ids are
    duplicated; an annotation points to an image or category id that is not
    declared; a segmentation polygon is empty or has fewer than 3 points.
    """
    if not isinstance(data, dict):
        raise AnnotationError(
            f'{source}: expected a JSON object with "images", '
            f'"annotations" and "categories", got {type(data).__name__}')
    images = data.get('images')
    if not images:
        raise AnnotationError(
            f'{source}: key "images" is missing or empty; a COCO-format '
            'file needs at least one image')
    image_ids = [img.get('id') for img in images]
    if len(set(image_ids)) != len(image_ids):
        seen, dup = set(), set()
        for i in image_ids:
            (dup if i in seen else seen).add(i)
        raise AnnotationError(
            f'{source}: duplicated image ids {_preview(dup)}')
    annotations = data.get('annotations', [])
    known_images = set(image_ids)
    orphans = {a.get('image_id') for a in annotations} - known_images
    if orphans:
        raise AnnotationError(
            f'{source}: annotations point to image ids {_preview(orphans)} '
            'that are not in "images"')
    if annotations:
        categories = data.get('categories')
        if not categories:
            raise AnnotationError(
                f'{source}: has annotations but key "categories" is '
                'missing or empty')
        known_cats = {c['id'] for c in categories}
        unknown = {a.get('category_id') for a in annotations} - known_cats
        if unknown:
            raise AnnotationError(
                f'{source}: annotations use category ids '
                f'{_preview(unknown)} that are not in "categories" '
                f'{_preview(known_cats)}')
    for ann in annotations:
        _check_segmentation(ann, source)


def _check_segmentation(ann: Dict, source: str) -> None:
    seg = ann.get('segmentation')
    if seg is None or isinstance(seg, dict):  # absent, or RLE
        return
    if not isinstance(seg, list) or len(seg) == 0:
        raise AnnotationError(
            f'{source}: annotation id {ann.get("id")} (image '
            f'{ann.get("image_id")}) has an empty segmentation')
    for poly in seg:
        if len(poly) < 6 or len(poly) % 2:
            raise AnnotationError(
                f'{source}: annotation id {ann.get("id")} (image '
                f'{ann.get("image_id")}) has a polygon with '
                f'{len(poly)} coordinates; a polygon needs an even '
                'number >= 6')
