# Copyright (c) s4m-mm authors. All rights reserved.
from typing import Union

import numpy as np
import torch
from torch import Tensor

from mmcv.ops import roi_align

from mmdet.structures.mask import BitmapMasks


class TensorMasks:
    """Instance masks kept as a ``(N, H, W)`` bool tensor on their device.

    Pseudo-labels are born on the GPU; mmdet's :class:`BitmapMasks` would
    move them to numpy and back every iteration. This class offers what the
    students' losses and :class:`InstanceData` use of a masks structure:
    ``len``, indexing, ``to_tensor`` (Mask2Former, RTMDet-Ins),
    :meth:`crop_and_resize` (Mask R-CNN's mask targets), ``height`` /
    ``width`` and ``to_ndarray``, plus :meth:`to_bitmap` for mmdet code
    that needs more.

    Args:
        masks (Tensor): ``(N, H, W)``, any dtype; stored as bool.
    """

    def __init__(self, masks: Tensor):
        if masks.dim() != 3:
            raise ValueError(f'TensorMasks needs (N, H, W) masks, got shape '
                             f'{tuple(masks.shape)}')
        self.masks = masks.bool()

    @property
    def height(self) -> int:
        return int(self.masks.shape[1])

    @property
    def width(self) -> int:
        return int(self.masks.shape[2])

    @property
    def areas(self) -> Tensor:
        return self.masks.sum(dim=(1, 2))

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def __getitem__(self, index: Union[int, slice, Tensor, np.ndarray]
                    ) -> 'TensorMasks':
        if isinstance(index, np.ndarray):
            index = torch.from_numpy(index)
        if isinstance(index, Tensor):
            index = index.to(self.masks.device)
        out = self.masks[index]
        return TensorMasks(out if out.dim() == 3 else out[None])

    def to_tensor(self, dtype: torch.dtype, device) -> Tensor:
        return self.masks.to(device=device, dtype=dtype)

    def crop_and_resize(self,
                        bboxes: Union[np.ndarray, Tensor],
                        out_shape,
                        inds: Union[np.ndarray, Tensor],
                        device='cpu',
                        interpolation: str = 'bilinear',
                        binarize: bool = True) -> BitmapMasks:
        """The masks ``inds`` cropped to ``bboxes (M, 4)`` (xyxy, input
        pixels) and resized to ``out_shape`` ``(h, w)``, as
        :meth:`BitmapMasks.crop_and_resize` (the same ``roi_align``, on the
        bool tensor where it lives instead of a numpy copy): ``(M, h, w)``
        BitmapMasks, binarised at 0.5 unless ``binarize`` is False."""
        if interpolation != 'bilinear':
            raise ValueError('TensorMasks.crop_and_resize resizes with '
                             f"roi_align ('bilinear'), got {interpolation!r}")
        if len(self) == 0 or len(bboxes) == 0:
            return BitmapMasks(np.empty((0, *out_shape), dtype=np.uint8),
                               *out_shape)
        bboxes = torch.as_tensor(bboxes, device=device)
        inds = torch.as_tensor(inds, device=device)
        index = torch.arange(len(bboxes), device=device).to(bboxes.dtype)
        rois = torch.cat([index[:, None], bboxes], dim=1)
        masks = self.masks.to(device).index_select(0, inds).to(rois.dtype)
        targets = roi_align(masks[:, None], rois, out_shape, 1.0, 0, 'avg',
                            True).squeeze(1)
        resized = (targets >= 0.5) if binarize else targets
        return BitmapMasks(resized.cpu().numpy(), *out_shape)

    def to_ndarray(self) -> np.ndarray:
        return self.masks.cpu().numpy().astype(np.uint8)

    def to_bitmap(self) -> BitmapMasks:
        return BitmapMasks(self.to_ndarray(), self.height, self.width)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_masks={len(self)}, '
                f'height={self.height}, width={self.width})')
