# Copyright (c) s4m-mm authors. All rights reserved.
from typing import Union

import numpy as np
import torch
from torch import Tensor

from mmdet.structures.mask import BitmapMasks


class TensorMasks:
    """Instance masks kept as a ``(N, H, W)`` bool tensor on their device.

    Pseudo-labels are born on the GPU; mmdet's :class:`BitmapMasks` would
    move them to numpy and back every iteration. This class offers what the
    Mask2Former losses and :class:`InstanceData` use of a masks structure:
    ``len``, indexing, ``to_tensor``, ``height`` / ``width`` and
    ``to_ndarray``, plus :meth:`to_bitmap` for mmdet code that needs more.

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

    def to_ndarray(self) -> np.ndarray:
        return self.masks.cpu().numpy().astype(np.uint8)

    def to_bitmap(self) -> BitmapMasks:
        return BitmapMasks(self.to_ndarray(), self.height, self.width)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_masks={len(self)}, '
                f'height={self.height}, width={self.width})')
