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
    ids or value when: it is not a dict; ``images`` is missing or empty; a
    record lacks a key or has a value of the wrong kind (ids integers, file
    names and class names non-empty strings, image sizes 1 to
    :data:`MAX_IMAGE_SIDE`, ``bbox`` four finite numbers, ``area`` >= 0,
    ``iscrowd`` 0 or 1; see :func:`_check_structure`); image, annotation or
    category ids (or class names) are duplicated; an annotation points to
    an image or category id that is not declared; a segmentation is empty
    or not a list of polygons / an RLE dict; a polygon has fewer than 3
    points; a polygon point lies more than ``polygon_margin`` px outside
    the image; an RLE's ``counts`` is no string or list of run lengths, or
    its ``size`` is not the image's ``[height, width]``. The annotation
    errors name the annotation id and its image id.

    Args:
        data (dict): The parsed file.
        source (str): Its path, for the messages.
        polygon_margin (float, optional): How far (px) polygon points may
            lie outside ``[0, width] x [0, height]``. ``None`` turns the
            bounds check off. Defaults to :data:`POLYGON_MARGIN`.
    """
    _check_structure(data, source)
    images = data['images']
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


#: the largest image side accepted (an image's masks are H x W bytes each)
MAX_IMAGE_SIDE = 65535


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _records(data: Dict, key: str, source: str, required: bool) -> list:
    """``data[key]``, a list of JSON objects."""
    if key not in data:
        if required:
            raise AnnotationError(
                f'{source}: key "{key}" is missing; a COCO-format instance '
                'file has "images", "annotations" and "categories"')
        return []
    records = data[key]
    if not isinstance(records, list):
        raise AnnotationError(f'{source}: "{key}" must be a list, got '
                              f'{type(records).__name__} {_short(records)}')
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise AnnotationError(
                f'{source}: {key}[{i}] must be a JSON object, got '
                f'{_short(record)}')
    return records


def _field(record: Dict, key: str, where: str, check, what: str):
    if key not in record:
        raise AnnotationError(f'{where} has no "{key}" ({what})')
    if not check(record[key]):
        raise AnnotationError(
            f'{where}: "{key}" must be {what}, got {_short(record[key])}')
    return record[key]


def _check_structure(data: Dict, source: str) -> None:
    """Keys and value types of the three lists, and unique ids: what
    pycocotools and mmdet index without checking (a missing key is a bare
    KeyError there, a duplicated annotation id silently replaces the
    other)."""
    if not isinstance(data, dict):
        raise AnnotationError(
            f'{source}: expected a JSON object with "images", '
            f'"annotations" and "categories", got {type(data).__name__}')
    images = _records(data, 'images', source, required=True)
    if not images:
        raise AnnotationError(
            f'{source}: key "images" is missing or empty; a COCO-format '
            'file needs at least one image')
    for i, img in enumerate(images):
        where = f'{source}: images[{i}]'
        _field(img, 'id', where, _is_int, 'an integer id')
        _field(img, 'file_name', where,
               lambda v: isinstance(v, str) and bool(v), 'a file name')
        for key in ('height', 'width'):
            _field(img, key, where,
                   lambda v: _is_int(v) and 0 < v <= MAX_IMAGE_SIDE,
                   f'a size in pixels, 1 to {MAX_IMAGE_SIDE}')
    categories = _records(data, 'categories', source, required=False)
    for i, cat in enumerate(categories):
        where = f'{source}: categories[{i}]'
        _field(cat, 'id', where, _is_int, 'an integer id')
        _field(cat, 'name', where, lambda v: isinstance(v, str) and bool(v),
               'a class name')
    for key in ('id', 'name'):
        values = [c[key] for c in categories]
        dup = {v for v in values if values.count(v) > 1}
        if dup:
            raise AnnotationError(
                f'{source}: "categories" repeat the {key}s {_preview(dup)}')
    annotations = _records(data, 'annotations', source, required=False)
    for i, ann in enumerate(annotations):
        where = f'{source}: annotations[{i}]'
        for key in ('id', 'image_id', 'category_id'):
            _field(ann, key, where, _is_int, 'an integer id')
        _field(ann, 'segmentation', where,
               lambda v: isinstance(v, (list, dict)),
               'polygons [[x1, y1, ...], ...] or an RLE {"size", "counts"}')
        _field(
            ann, 'bbox', where, lambda v: isinstance(v, list) and len(v) ==
            4 and all(_is_number(x) for x in v) and v[2] >= 0 and v[3] >= 0,
            '[x, y, width, height], finite, width and height >= 0')
        _field(ann, 'area', where, lambda v: _is_number(v) and v >= 0,
               'a number of pixels >= 0')
        if 'iscrowd' in ann and ann['iscrowd'] not in (0, 1):
            raise AnnotationError(
                f'{where}: "iscrowd" must be 0 or 1, got '
                f'{_short(ann["iscrowd"])}')
    ann_ids = [a['id'] for a in annotations]
    if len(set(ann_ids)) != len(ann_ids):
        dup = {v for v in ann_ids if ann_ids.count(v) > 1}
        raise AnnotationError(
            f'{source}: duplicated annotation ids {_preview(dup)} (one '
            'would silently replace the other)')


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
    """An RLE has ``counts`` (a string, or a list of run lengths) and a
    ``size`` (``[height, width]``) that is the image's."""
    counts = rle.get('counts')
    if not (isinstance(counts, str) or
            (isinstance(counts, list) and all(_is_int(c) and c >= 0
                                              for c in counts))):
        raise AnnotationError(
            f'{where} has an RLE whose "counts" is {_short(counts)}; RLE '
            'counts are a compressed string or a list of run lengths')
    size = rle.get('size')
    height, width = image.get('height'), image.get('width')
    if not (isinstance(size, list) and len(size) == 2):
        raise AnnotationError(
            f'{where} has an RLE whose "size" is {_short(size)}; it must be '
            'the image\'s [height, width]')
    if list(size) != [height, width]:
        raise AnnotationError(
            f'{where} has an RLE mask of size (h, w) = {tuple(size)} but '
            f'the image {image.get("file_name")!r} is {height}x{width} '
            '(h x w)')
