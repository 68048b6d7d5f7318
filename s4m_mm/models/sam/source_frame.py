# Copyright (c) s4m-mm authors. All rights reserved.
"""SAM in the source frame of an augmented view.

SAM is frozen and every training image comes back many times, each time
under another geometric augmentation. :class:`SourceFrameEncoder` encodes
each image once in its *source frame* (the decoded file, before the
augmentation), keeps the encoder outputs in a :class:`SAMEmbeddingStore`
and serves them to every later view; the view's ``homography_matrix``
(source -> view, recorded by mmdet's geometric transforms) maps prompts
into the source and results back. The refiner of stage 2 and the SD teacher
of stage 1 reach it through their :class:`SAMPredictor`.
"""
from typing import List, Optional, Sequence

import mmcv
import numpy as np
import torch
from mmengine.fileio import get
from torch import Tensor

from mmdet.registry import TASK_UTILS
from mmdet.structures import SampleList
from .embed_store import StoreKey
from .embeddings import SAMEmbeddings

#: what the source frame needs in each view's metainfo
SOURCE_META_KEYS = ('img_path', 'ori_shape', 'homography_matrix')
#: the options of the source images' decoding, as ``LoadImageFromFile``
DEFAULT_SOURCE_LOADER = dict(
    backend_args=None, color_type='color', imdecode_backend='cv2')


def source_loader_options(source_loader: Optional[dict]) -> dict:
    """:data:`DEFAULT_SOURCE_LOADER` updated with ``source_loader``; an
    unknown key is an error naming it."""
    loader = dict(DEFAULT_SOURCE_LOADER)
    unknown = set(source_loader or {}) - set(loader)
    if unknown:
        raise ValueError(f'unknown source_loader keys {sorted(unknown)}; use '
                         f'{sorted(loader)}')
    loader.update(source_loader or {})
    return loader


class SourceFrameEncoder:
    """SAM embeddings of the source images behind a batch of views.

    Args:
        sam (BaseSAMAdapter): the frozen SAM that encodes the images (its
            owner, a :class:`SAMPredictor`, builds it; this object only
            calls it).
        store (dict, optional): the :class:`SAMEmbeddingStore`
            (``memory_bytes``, ``disk_dir``, ``dtype``); default: 1 GiB in
            memory.
        source_loader (dict, optional): ``backend_args``, ``color_type``
            and ``imdecode_backend`` of the source images, as the
            pipeline's ``LoadImageFromFile``.
        owner (str): the config key that chose the source frame, named in
            errors (e.g. ``'model.refiner.frame'``).

    Attributes:
        misses (int): images of the last :meth:`embeddings` call that were
            encoded (not in the store).
    """

    def __init__(self,
                 sam,
                 store: Optional[dict] = None,
                 source_loader: Optional[dict] = None,
                 owner: str = 'frame') -> None:
        self.sam = sam
        self.store = TASK_UTILS.build(
            dict(dict(type='SAMEmbeddingStore'), **(store or {})))
        self.loader = source_loader_options(source_loader)
        self.owner = owner
        self.misses = 0

    def meta(self, sample) -> dict:
        """The sample's ``img_path``, ``ori_shape``, ``homography_matrix``
        and ``img_shape``; a missing one is an error naming it."""
        meta = sample.metainfo
        missing = [k for k in (*SOURCE_META_KEYS, 'img_shape')
                   if k not in meta]
        if missing:
            raise KeyError(
                f"{self.owner}='source' needs {missing} in the view's "
                f"metainfo (sample {meta.get('img_path')!r}): add them to "
                "its PackDetInputs meta_keys, after geometric transforms "
                'that record homography_matrix')
        return meta

    @staticmethod
    def to_view(meta: dict) -> np.ndarray:
        """``(3, 3)`` float64 source -> view homography of a view."""
        return np.asarray(meta['homography_matrix'], dtype=np.float64)

    def to_source(self, meta: dict) -> np.ndarray:
        """``(3, 3)`` float64 view -> source homography of a view."""
        return np.linalg.inv(self.to_view(meta))

    def load(self, img_path: str, ori_shape: Sequence[int]) -> Tensor:
        """``(3, H, W)`` float32 RGB 0-255 of the file, decoded with the
        source loader's options; a size other than ``ori_shape`` is an
        error (the loader must decode as the pipeline does)."""
        loader = self.loader
        img = mmcv.imfrombytes(
            get(img_path, backend_args=loader['backend_args']),
            flag=loader['color_type'],
            channel_order='rgb',
            backend=loader['imdecode_backend'])
        if img is None or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(
                f"{self.owner}='source': source image {img_path!r}: "
                'expected an RGB image, decoded '
                f'{None if img is None else img.shape}')
        if tuple(img.shape[:2]) != tuple(int(s) for s in ori_shape[:2]):
            raise ValueError(
                f"{self.owner}='source': source image {img_path!r} "
                f'decodes to {img.shape[:2]}, but its sample says ori_shape '
                f'{tuple(ori_shape[:2])}: source_loader must decode as the '
                "pipeline's LoadImageFromFile")
        return torch.from_numpy(np.ascontiguousarray(img)).permute(
            2, 0, 1).float()

    def key(self, sample, device=None) -> StoreKey:
        """The store key of a view's source image under the SAM encoding on
        ``device`` (default: where its weights are)."""
        meta = self.meta(sample)
        return StoreKey(meta['img_path'], self.sam.store_identity(device),
                        meta['ori_shape'][:2])

    @torch.no_grad()
    def embeddings(self, data_samples: SampleList,
                   device: torch.device) -> List[SAMEmbeddings]:
        """One :class:`SAMEmbeddings` (batch of 1, frame ``ori_shape``) per
        sample, from the store; the images missing from it are loaded,
        encoded together and stored (:attr:`misses` counts them, each image
        once)."""
        keys = [self.key(sample, device) for sample in data_samples]
        found = {}
        for key in keys:
            if key.id not in found:
                found[key.id] = self.store.get(key)
        # an image missing from the store is encoded once, however many of
        # its views the batch holds
        missing = {key.id: key for key in keys if found[key.id] is None}
        if missing:
            images = [
                self.load(key.file, key.source_hw).to(device)
                for key in missing.values()
            ]
            for key, encoded in zip(missing.values(),
                                    self.sam.embed_image_list(images)):
                found[key.id] = self.store.put(key, encoded)
        self.misses = len(missing)
        outputs = [found[key.id] for key in keys]
        return [
            SAMEmbeddings(out[0][None].to(device, torch.float32),
                          key.source_hw,
                          tuple(t[None].to(device, torch.float32)
                                for t in out[1:]))
            for key, out in zip(keys, outputs)
        ]
