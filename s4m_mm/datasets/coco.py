# Copyright (c) s4m-mm authors. All rights reserved.
"""COCO-format datasets that fail loudly on bad annotation files."""
import os.path as osp
from typing import List, Optional

from mmdet.datasets import CityscapesDataset, CocoDataset
from mmdet.datasets.api_wrappers import COCO
from mmdet.registry import DATASETS

from .coco_validation import POLYGON_MARGIN, AnnotationError, load_coco_json
from .image_folder import image_size


class CheckedCOCO(COCO):
    """mmdet's COCO API over a file checked by :func:`load_coco_json`.

    ``get_cat_ids(cat_names=...)`` raises when a requested class name is not
    in the file instead of silently returning fewer ids.
    """

    def __init__(self,
                 annotation_file: str,
                 hint: Optional[str] = None,
                 polygon_margin: Optional[float] = POLYGON_MARGIN):
        data = load_coco_json(annotation_file, hint, polygon_margin)
        super().__init__(None)
        self.source = annotation_file
        self.dataset = data
        self.createIndex()
        self.img_ann_map = self.imgToAnns
        self.cat_img_map = self.catToImgs

    def get_cat_ids(self, cat_names=[], sup_names=[], cat_ids=[]):
        names_in_file = [c['name'] for c in self.dataset.get('categories', [])]
        missing = [n for n in cat_names if n not in names_in_file]
        if missing:
            raise AnnotationError(
                f'{self.source}: classes {missing} of the config (metainfo '
                f'"classes", {len(cat_names)} names) are not in the file\'s '
                f'"categories" {names_in_file}; class count or names of the '
                'config do not match the annotations')
        return super().get_cat_ids(cat_names, sup_names, cat_ids)


class CheckedCocoMixin:
    """Adds annotation checks to a :class:`CocoDataset` subclass.

    Args (extra config keys):
        missing_hint (str): appended to the error when ``ann_file`` does not
            exist, e.g. the command that creates it.
        ignore_extra_categories (bool): annotations whose category is not one
            of the config's classes are an error unless this is True (then
            they are dropped, as stock mmdet does). Defaults to False.
        check_image_files (bool): every image file must exist and be
            non-empty (local files only). Defaults to True.
        polygon_margin (float, optional): how far (px) polygon points may
            lie outside the image; ``None`` skips that check. Defaults to
            :data:`~s4m_mm.datasets.coco_validation.POLYGON_MARGIN`.
    """

    def __init__(self,
                 *args,
                 missing_hint: str = '',
                 ignore_extra_categories: bool = False,
                 check_image_files: bool = True,
                 polygon_margin: Optional[float] = POLYGON_MARGIN,
                 **kwargs):
        self.missing_hint = missing_hint
        self.polygon_margin = polygon_margin
        self.ignore_extra_categories = ignore_extra_categories
        self.check_image_files = check_image_files
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        hint = self.missing_hint or None
        self.COCOAPI = lambda path: CheckedCOCO(path, hint,
                                                self.polygon_margin)
        if not self.ann_file or not osp.exists(self.ann_file):
            # files on a remote backend are checked when read
            if self.backend_args is None:
                load_coco_json(self.ann_file, hint)  # raises, naming the file
        data_list = super().load_data_list()
        if not self.ignore_extra_categories:
            self._check_categories_known()
        if self.check_image_files and self.backend_args is None:
            self._check_image_files(data_list)
        return data_list

    def parse_data_info(self, raw_data_info: dict):
        self._used_cat_ids.update(
            a['category_id'] for a in raw_data_info['raw_ann_info'])
        return super().parse_data_info(raw_data_info)

    @property
    def _used_cat_ids(self) -> set:
        if not hasattr(self, '_used_cat_ids_set'):
            self._used_cat_ids_set = set()
        return self._used_cat_ids_set

    def _check_categories_known(self) -> None:
        unknown = self._used_cat_ids - set(self.cat_ids)
        if unknown:
            raise AnnotationError(
                f'{self.ann_file}: annotations use category ids '
                f'{sorted(unknown)} that are not among the config classes '
                f'{list(self.metainfo["classes"])} (ids {self.cat_ids}); fix '
                'metainfo.classes or set ignore_extra_categories=True to '
                'drop them')

    def _check_image_files(self, data_list: List[dict]) -> None:
        """Every image file exists and is not empty; the images with
        instances are the size the file says (their masks are decoded at
        that size: a wrong one would misplace them)."""
        missing, empty, resized = [], [], []
        for d in data_list:
            path = d['img_path']
            if not osp.isfile(path):
                missing.append(path)
            elif osp.getsize(path) == 0:
                # OpenCV's error for an empty file does not name it (other
                # undecodable bytes fail in LoadImageFromFile, naming it)
                empty.append(path)
            elif d['instances']:
                try:
                    size = image_size(path)
                except ValueError:
                    continue  # LoadImageFromFile stops on it, naming it
                if size != (d['height'], d['width']):
                    resized.append(f'{path} is {size[0]}x{size[1]}, the '
                                   f'file says {d["height"]}x{d["width"]}')
        if missing:
            shown = ', '.join(missing[:3])
            raise FileNotFoundError(
                f'{self.ann_file}: {len(missing)} of {len(data_list)} image '
                f'files do not exist (data_prefix={self.data_prefix}), e.g. '
                f'{shown}')
        if empty:
            raise ValueError(
                f'{self.ann_file}: {len(empty)} of {len(data_list)} image '
                f'files are empty (0 bytes), e.g. {", ".join(empty[:3])}')
        if resized:
            raise AnnotationError(
                f'{self.ann_file}: {len(resized)} images are not the '
                '"height" x "width" of their "images" record, e.g. ' +
                '; '.join(resized[:3]))


@DATASETS.register_module()
class S4MCocoDataset(CheckedCocoMixin, CocoDataset):
    """:class:`CocoDataset` with the checks of :class:`CheckedCocoMixin`."""


@DATASETS.register_module()
class S4MCityscapesDataset(CheckedCocoMixin, CityscapesDataset):
    """:class:`CityscapesDataset` with the checks of
    :class:`CheckedCocoMixin`."""


@DATASETS.register_module()
class NucleiDataset(S4MCocoDataset):
    """The embedded demo: fluorescence nuclei tiles, one class."""

    METAINFO = {'classes': ('nucleus', ), 'palette': [(220, 20, 60)]}
