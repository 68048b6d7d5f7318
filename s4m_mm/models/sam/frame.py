# Copyright (c) s4m-mm authors. All rights reserved.
"""SAM's input frame: the caller's ``H x W`` pixels resized into the
square ``S x S`` input (content top-left, zero padding bottom-right) and
SAM's ``h x w`` grid of embedding cells on it."""
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .embeddings import shape_str


class SAMFrameMixin:
    """The geometry between the caller's frame and SAM's input and grid.

    Reads the adapter's ``img_size``, ``embed_size``, ``RESIZE_ANTIALIAS``,
    :meth:`input_scale`, :meth:`content_shape` and :meth:`_normalize`.
    """

    def to_input_coords(self, xy: Tensor, img_shape: Sequence[int]) -> Tensor:
        """``(..., 2)`` ``(x, y)`` caller pixels -> SAM input pixels."""
        scale_x, scale_y = self.input_scale(img_shape)
        return xy * xy.new_tensor([scale_x, scale_y])

    def cell_centres(self, img_shape: Sequence[int]) -> Tensor:
        """``(h * w, 2)`` float32 ``(x, y)`` of the centres of SAM's
        embedding cells in caller pixels of an ``(H, W)`` frame, row-major
        (as ``embedding.flatten(-2)``)."""
        h, w = self.embed_size
        ys = (torch.arange(h, dtype=torch.float32) + 0.5) * (self.img_size / h)
        xs = (torch.arange(w, dtype=torch.float32) + 0.5) * (self.img_size / w)
        yy, xx = torch.meshgrid(ys, xs, indexing='ij')
        scale_x, scale_y = self.input_scale(img_shape)
        return torch.stack(
            [xx.reshape(-1) / scale_x, yy.reshape(-1) / scale_y], dim=1)

    def valid_cells(self, img_shape: Sequence[int]) -> Tensor:
        """``(h * w,)`` bool: the cells whose centre lies in the image (not
        in SAM's padding)."""
        centres = self.cell_centres(img_shape)
        return (centres[:, 0] < int(img_shape[1])) & \
            (centres[:, 1] < int(img_shape[0]))

    # ------------------------------------------------------------------
    # images
    # ------------------------------------------------------------------
    @torch.no_grad()
    def preprocess(self, images: Tensor) -> Tensor:
        """SAM input of a batch of RGB images: resize (bilinear) to
        :meth:`content_shape`, normalise, pad bottom-right with zeros to
        ``S x S``.

        Args:
            images (Tensor): ``(B, 3, H, W)`` RGB in 0-255 (any real or
                integer dtype; integers are converted to float32).

        Returns:
            Tensor: ``(B, 3, S, S)``.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f'{type(self).__name__}.preprocess: images must '
                             f'be (B, 3, H, W) RGB, got {shape_str(images)}')
        if not images.is_floating_point():
            images = images.float()
        new_h, new_w = self.content_shape(images.shape[-2:])
        if (new_h, new_w) != tuple(images.shape[-2:]):
            images = F.interpolate(
                images, (new_h, new_w),
                mode='bilinear',
                align_corners=False,
                antialias=self.RESIZE_ANTIALIAS)
        images = self._normalize(images)
        return F.pad(images,
                     (0, self.img_size - new_w, 0, self.img_size - new_h))

