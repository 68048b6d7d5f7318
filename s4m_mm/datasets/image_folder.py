# Copyright (c) s4m-mm authors. All rights reserved.
"""Unlabeled images from a folder or a list of paths: no annotation file."""
import os
import os.path as osp
from typing import List, Sequence, Tuple

from mmengine.logging import print_log
from PIL import Image, UnidentifiedImageError

from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS

#: what a folder is scanned for (case-insensitive)
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff',
                    '.webp')
#: EXIF orientations that swap width and height (OpenCV, which loads the
#: images in mmdet's pipeline, applies the EXIF orientation)
_TRANSPOSED_ORIENTATIONS = (5, 6, 7, 8)
_EXIF_ORIENTATION = 0x0112


def image_size(path: str, decode: bool = False) -> Tuple[int, int]:
    """``(height, width)`` of an image file as it will be loaded, from its
    header; ``decode`` also decodes the pixels (a file cut after its header
    is caught then, not before).

    Raises:
        ValueError: the file is empty or not an image PIL can read,
            naming the file.
    """
    if osp.getsize(path) == 0:
        raise ValueError(f'{path}: empty file (0 bytes)')
    try:
        with Image.open(path) as img:
            width, height = img.size
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
            if decode:
                img.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f'{path}: not a readable image ({err})') from None
    if width < 1 or height < 1:
        raise ValueError(f'{path}: image of size {width} x {height}')
    if orientation in _TRANSPOSED_ORIENTATIONS:
        width, height = height, width
    return height, width


def scan_folder(folder: str, extensions: Sequence[str],
                recursive: bool) -> List[str]:
    """Image paths under ``folder``, sorted by their path relative to it
    (a stable order for every process and every resume)."""
    suffixes = tuple(e.lower() for e in extensions)
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs.sort()
        found.extend(
            osp.join(root, name) for name in files
            if name.lower().endswith(suffixes) and not name.startswith('.'))
        if not recursive:
            break
    return sorted(found, key=lambda p: osp.relpath(p, folder))


def read_path_list(list_file: str, folder: str) -> List[str]:
    """The paths of a text file, one a line (``#`` comments and blank lines
    skipped), relative ones under ``folder``, in the file's order."""
    with open(list_file) as f:
        lines = [line.strip() for line in f]
    return [
        line if osp.isabs(line) else osp.join(folder, line) for line in lines
        if line and not line.startswith('#')
    ]


@DATASETS.register_module()
class UnlabeledImageFolder(BaseDetDataset):
    """Unlabeled images for S4M's stage 2 from a folder (scanned, by default
    recursively) or from a text list of paths, with no annotation file.

    Every image is checked when the dataset is built: its size is read from
    the file's header (with the EXIF orientation that OpenCV applies when it
    loads it), and an empty or unreadable file stops the run with the list
    of such files, unless ``skip_invalid=True``: then they are logged, each
    one, and left out, with their count. A file cut after its header is
    only caught by decoding it: ``check_pixels=True`` does that for every
    image at start (slow for a large set: ``tools/analysis/
    check_dataset.py`` does it once, before training); otherwise mmcv's
    loader stops on it, naming it, when the image is drawn. Images come in
    the order of their relative paths (of the list file's lines), the same
    in every process.

    Args:
        data_root (str): as any mmdet dataset.
        data_prefix (dict): ``img``: the folder, under ``data_root``.
        ann_file (str): ``''`` scans the folder; else a text file (under
            ``data_root``) listing image paths, one a line, relative to
            the folder or absolute.
        extensions (Sequence[str]): file suffixes of images when scanning.
        recursive (bool): scan subfolders too. Defaults to True.
        skip_invalid (bool): leave unreadable files out (logged) instead of
            refusing them. Defaults to False.
        check_pixels (bool): decode every image when the dataset is built.
            Defaults to False.
        metainfo (dict): ``classes`` of the labeled data, so that the
            labeled and unlabeled datasets of a ``ConcatDataset`` agree.
        **kwargs: those of :class:`BaseDetDataset` (``pipeline``, ...).
    """

    def __init__(self,
                 *args,
                 extensions: Sequence[str] = IMAGE_EXTENSIONS,
                 recursive: bool = True,
                 skip_invalid: bool = False,
                 check_pixels: bool = False,
                 data_prefix: dict = dict(img=''),
                 **kwargs) -> None:
        if isinstance(extensions, str) or not extensions:
            raise ValueError('UnlabeledImageFolder: extensions must be a '
                             f'non-empty list of suffixes, got {extensions!r}')
        self.extensions = tuple(extensions)
        self.recursive = recursive
        self.skip_invalid = skip_invalid
        self.check_pixels = check_pixels
        super().__init__(*args, data_prefix=data_prefix, **kwargs)

    def image_paths(self) -> List[str]:
        """The candidate image paths, before any check."""
        folder = self.data_prefix.get('img', '') or self.data_root
        if self.ann_file:
            if not osp.isfile(self.ann_file):
                raise FileNotFoundError(
                    f'UnlabeledImageFolder: the image list {self.ann_file!r}'
                    ' does not exist')
            paths = read_path_list(self.ann_file, folder)
            if not paths:
                raise ValueError(f'{self.ann_file}: the image list is empty')
            return paths
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f'UnlabeledImageFolder: the folder {folder!r} does not exist '
                f'(data_root={self.data_root!r}, data_prefix='
                f'{self.data_prefix})')
        paths = scan_folder(folder, self.extensions, self.recursive)
        if not paths:
            where = 'or its subfolders ' if self.recursive else ''
            raise ValueError(
                f'{folder}: no images in the folder {where}(extensions '
                f'{list(self.extensions)})')
        return paths

    def load_data_list(self) -> List[dict]:
        data_list, invalid = [], []
        #: what was left out with skip_invalid, one message a file
        self.invalid_files = invalid
        for path in self.image_paths():
            try:
                if not osp.isfile(path):
                    raise ValueError(f'{path}: no such file')
                height, width = image_size(path, self.check_pixels)
            except ValueError as err:
                invalid.append(str(err))
                continue
            data_list.append(
                dict(
                    img_path=path,
                    img_id=len(data_list),
                    height=height,
                    width=width,
                    instances=[]))
        source = self.ann_file or self.data_prefix.get('img', '')
        if invalid and not data_list:
            raise ValueError(f'{source}: none of the {len(invalid)} files is '
                             'a readable image:\n  ' + '\n  '.join(invalid))
        if invalid and not self.skip_invalid:
            raise ValueError(
                f'{source}: {len(invalid)} of {len(invalid) + len(data_list)}'
                ' files are not readable images (set skip_invalid=True to '
                'leave them out):\n  ' + '\n  '.join(invalid))
        if invalid:
            print_log(
                f'{source}: left out {len(invalid)} of '
                f'{len(invalid) + len(data_list)} files that are not '
                'readable images:\n  ' + '\n  '.join(invalid),
                logger='current')
        return data_list

    def filter_data(self) -> List[dict]:
        """Nothing is filtered: every image is an unlabeled image."""
        return self.data_list

    def get_cat_ids(self, idx: int) -> List[int]:
        return []
