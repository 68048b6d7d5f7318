# Copyright (c) s4m-mm authors. All rights reserved.
"""Checks that turn a bad COCO-format annotation file into a clear error.

pycocotools accepts a lot silently: an annotation whose ``image_id`` is not in
``images`` is dropped, a class name missing from ``categories`` shrinks the
label space. Both change what a model learns without a word, so every dataset
and tool of this package checks the parsed dict first.

Polygon coordinates are continuous, with pixel ``i`` covering ``[i, i + 1)``:
a mask touching the right border has ``x = width``. Points up to
:data:`POLYGON_MARGIN` (1 px) beyond ``[0, width] x [0, height]`` are
accepted, as annotation tools round or overshoot borders by that much (and
mmdet's polygon-to-mask conversion clips them); a point further out is a
wrong image size or a wrong coordinate order, and is refused.
"""
import json
import math
import os.path as osp
from typing import Dict, Iterable, Optional

#: How far (px) polygon points may lie outside the image; see the module
#: docstring.
POLYGON_MARGIN = 1.0


class AnnotationError(ValueError):
    """A COCO-format annotation file that cannot be used as it is."""


def _preview(values: Iterable, limit: int = 5) -> str:
    values = sorted(values)
    shown = ', '.join(str(v) for v in values[:limit])
    more = f' (and {len(values) - limit} more)' if len(values) > limit else ''
    return f'[{shown}]{more}'


def load_coco_json(path: str,
                   hint: Optional[str] = None,
                   polygon_margin: Optional[float] = POLYGON_MARGIN) -> Dict:
    """Read a COCO-format json file, naming the file in every failure.

    Args:
        path (str): Path of the json file.
        hint (str, optional): How to obtain the file, appended to the error
            when it does not exist.
        polygon_margin (float, optional): see :func:`validate_coco_dict`.

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
    validate_coco_dict(data, path, polygon_margin)
    return data


def validate_coco_dict(
        data: Dict,
        source: str = '<dict>',
        polygon_margin: Optional[float] = POLYGON_MARGIN) -> None:
    """Check the structure a COCO-format instance file must have.

    Raises :class:`AnnotationError` naming ``source`` and the offending key,
    ids or value when: it is not a dict; ``images`` is missing or empty;
    image ids are duplicated; an annotation points to an image or category
    id that is not declared; a segmentation is empty or not a list of
    polygons / an RLE dict; a polygon has fewer than 3 points; a polygon
    point lies more than ``polygon_margin`` px outside the image; an RLE's
    ``size`` is not the image's ``[height, width]``. The annotation errors
    name the annotation id and its image id.

    Args:
        data (dict): The parsed file.
        source (str): Its path, for the messages.
        polygon_margin (float, optional): How far (px) polygon points may
            lie outside ``[0, width] x [0, height]``. ``None`` turns the
            bounds check off. Defaults to :data:`POLYGON_MARGIN`.
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
    images_by_id = {img.get('id'): img for img in images}
    for ann in annotations:
        _check_segmentation(ann, images_by_id[ann.get('image_id')], source,
                            polygon_margin)


def _check_segmentation(ann: Dict, image: Dict, source: str,
                        margin: Optional[float]) -> None:
    """Refuse a segmentation that is no list of polygons or RLE, a polygon
    of fewer than 3 points or with non-finite coordinates, a polygon point
    more than ``margin`` px outside the image, or an RLE of another size
    than the image."""
    seg = ann.get('segmentation')
    where = (f'{source}: annotation id {ann.get("id")} (image id '
             f'{ann.get("image_id")})')
    if seg is None:
        return
    if isinstance(seg, dict):
        _check_rle_size(seg, image, where)
        return
    if not isinstance(seg, list) or len(seg) == 0:
        raise AnnotationError(f'{where} has an empty segmentation {seg!r}')
    for i, poly in enumerate(seg):
        if not isinstance(poly, list):
            raise AnnotationError(
                f'{where}: segmentation[{i}] is {_short(poly)}; polygons '
                'are lists of coordinates, [[x1, y1, x2, y2, ...], ...]')
        if len(poly) < 6 or len(poly) % 2:
            raise AnnotationError(
                f'{where} has a polygon with {len(poly)} coordinates '
                f'{_short(poly)}; a polygon needs an even number >= 6 '
                '(3 points)')
        try:
            finite = math.isfinite(sum(poly))  # one pass in C
        except TypeError:  # a string, None or list among the coordinates
            finite = False
        if not finite:
            index, value = next(
                (j, v) for j, v in enumerate(poly)
                if not isinstance(v, (int, float)) or not math.isfinite(v))
            raise AnnotationError(
                f'{where} has a polygon with a non-numeric or non-finite '
                f'coordinate: {value!r} at index {index} of {_short(poly)}')
        if margin is not None:
            _check_polygon_inside(poly, image, where, margin)


def _short(value, limit: int = 8) -> str:
    """``repr`` of a value, lists cut to their first ``limit`` items."""
    if isinstance(value, list) and len(value) > limit:
        return repr(value[:limit])[:-1] + f', ... ({len(value)} items)]'
    return repr(value)


def _check_polygon_inside(poly: list, image: Dict, where: str,
                          margin: float) -> None:
    """Every ``(x, y)`` of ``poly`` in ``[-margin, width + margin] x
    [-margin, height + margin]``; skipped if the image has no size."""
    width, height = image.get('width'), image.get('height')
    if width is None or height is None:
        return
    for axis, coords, size in (('x', poly[0::2], width),
                               ('y', poly[1::2], height)):
        low, high = min(coords), max(coords)
        if low >= -margin and high <= size + margin:
            continue
        bad = low if low < -margin else high
        raise AnnotationError(
            f'{where} has a polygon point with {axis} = {bad} outside the '
            f'image ({width}x{height} px, file_name '
            f'{image.get("file_name")!r}); coordinates may lie at most '
            f'{margin} px outside [0, {size}]')


def _check_rle_size(rle: Dict, image: Dict, where: str) -> None:
    """An RLE's ``size`` (``[height, width]``) must be the image's."""
    size = rle.get('size')
    height, width = image.get('height'), image.get('width')
    if size is None or height is None or width is None:
        return
    if list(size) != [height, width]:
        raise AnnotationError(
            f'{where} has an RLE mask of size (h, w) = {tuple(size)} but '
            f'the image {image.get("file_name")!r} is {height}x{width} '
            '(h x w)')
