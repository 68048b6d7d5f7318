# Copyright (c) s4m-mm authors. All rights reserved.
"""The paste geometry of ARP (:class:`AdaptiveRandomPaste`): how an
instance is cut from its source, placed in its receiver and occluded by
later pastes, and the record of a mix that
:func:`s4m_mm.evaluation.replay_arp_masks` replays.

An image is a ``(3, H, W)`` float tensor in the 0-255 range of the (padded,
not yet normalised) batch input and the masks of an image are an
``(N, H, W)`` bool tensor on the batch's device.
"""
from typing import List, NamedTuple, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from mmdet.structures.mask import BitmapMasks

MaskType = Union[BitmapMasks, Tensor]


class CutGeometry(NamedTuple):
    """How a pasted instance's ``(h, w)`` patch was cut from its source.

    The patch is ``source[y1:y2, x1:x2]``, then, with scale jitter, resized
    to ``resized_hw`` (nearest-exact) and cropped to ``crop`` (the rescaled
    mask's box, ``(x1, y1, x2, y2)`` inside the resized patch).

    Attributes:
        box (tuple[int, int, int, int]): ``(x1, y1, x2, y2)`` in the source.
        resized_hw (tuple[int, int], optional): ``None`` without jitter.
        crop (tuple[int, int, int, int], optional): ``None`` without jitter.
    """
    box: Tuple[int, int, int, int]
    resized_hw: Optional[Tuple[int, int]] = None
    crop: Optional[Tuple[int, int, int, int]] = None


class PastedInstance(NamedTuple):
    """One instance cut from a source image, ready to be pasted.

    Attributes:
        pixels (Tensor): ``(3, h, w)`` source pixels of the instance's box
            (rescaled when scale jitter is on).
        mask (Tensor): ``(h, w)`` bool mask of the instance in that box.
        top (int): row of the box's top-left corner in the receiving image.
        left (int): column of that corner.
        index (int): the instance's index in the source ``gt_instances``.
        cut (CutGeometry, optional): how ``pixels`` and ``mask`` were cut
            from the source, for :func:`s4m_mm.evaluation.replay_arp_masks`.
    """
    pixels: Tensor
    mask: Tensor
    top: int
    left: int
    index: int
    cut: Optional[CutGeometry] = None


class ARPPaste(NamedTuple):
    """One paste of a mix: an instance of image ``source`` went into image
    ``target`` (batch indices).

    Attributes:
        source (int): batch index of the image it was cut from.
        target (int): batch index of the receiving image.
        mask (Tensor): ``(h, w)`` bool, its pasted mask (a copy).
        top (int): row of the mask's top-left corner in the receiver.
        left (int): column of that corner.
        cut (CutGeometry): how it was cut from the source.
    """
    source: int
    target: int
    mask: Tensor
    top: int
    left: int
    cut: CutGeometry

    @classmethod
    def of(cls, source: int, target: int,
           instance: PastedInstance) -> 'ARPPaste':
        """The record of ``instance``, without its pixels (the record must
        not keep the batch alive)."""
        return cls(source, target, instance.mask.clone(), instance.top,
                   instance.left, instance.cut)

    def region(self, image_hw: Tuple[int, int]) -> Tensor:
        """``(H, W)`` bool: the pasted mask in the receiver."""
        canvas = self.mask.new_zeros(image_hw)
        height, width = self.mask.shape
        canvas[self.top:self.top + height,
               self.left:self.left + width] = self.mask
        return canvas


class ARPRecord(NamedTuple):
    """The ARP geometry of one :meth:`AdaptiveRandomPaste.forward` call.

    Attributes:
        batch_size (int): ``B`` of the mixed batch.
        image_hw (tuple[int, int]): ``(H, W)`` of its batch input.
        pastes (list[ARPPaste]): every paste, in pasting order.
    """
    batch_size: int
    image_hw: Tuple[int, int]
    pastes: List[ARPPaste]


def masks_as_tensor(masks: MaskType, device: torch.device) -> Tensor:
    """Instance masks as an ``(N, H, W)`` bool tensor on ``device``.

    Args:
        masks (BitmapMasks | Tensor): ``BitmapMasks`` or an ``(N, H, W)``
            bool / integer tensor (non-zero is foreground).
        device (torch.device): where the result lives.

    Returns:
        Tensor: ``(N, H, W)`` bool.
    """
    if isinstance(masks, BitmapMasks):
        array = np.ascontiguousarray(masks.masks)
        return torch.from_numpy(array).to(device=device, dtype=torch.bool)
    return masks.to(device=device, dtype=torch.bool)


def masks_like(masks: Tensor, template: MaskType) -> MaskType:
    """Give ``(N, H, W)`` bool masks the kind, dtype and device of
    ``template`` (``BitmapMasks`` of uint8, or a tensor)."""
    if isinstance(template, BitmapMasks):
        height, width = masks.shape[-2:]
        array = masks.cpu().numpy().astype(np.uint8)
        return BitmapMasks(array, height, width)
    return masks.to(device=template.device, dtype=template.dtype)


def remove_occluded_pixels(masks: Tensor) -> Tensor:
    """Occlusion in list order: every mask loses the pixels covered by any
    later mask, so the result is pairwise disjoint.

    Args:
        masks (Tensor): ``(N, H, W)`` bool, back to front.

    Returns:
        Tensor: ``(N, H, W)`` bool, the visible part of each mask.
    """
    visible = masks.clone()
    if masks.shape[0] == 0:
        return visible
    covered = torch.zeros_like(masks[0])
    for index in range(masks.shape[0] - 1, -1, -1):
        visible[index] &= ~covered
        covered |= masks[index]
    return visible


def place_mask(instance: PastedInstance, image_hw: Tuple[int, int]) -> Tensor:
    """The ``(H, W)`` bool mask of a pasted instance in its receiver."""
    canvas = instance.mask.new_zeros(image_hw)
    height, width = instance.mask.shape
    canvas[instance.top:instance.top + height,
           instance.left:instance.left + width] = instance.mask
    return canvas


def paste_pixels_(image: Tensor, instance: PastedInstance) -> None:
    """Overwrite, in place, the pixels of ``image`` (``(3, H, W)``) under
    the pasted instance's mask with the instance's pixels."""
    height, width = instance.mask.shape
    region = image[:, instance.top:instance.top + height,
                   instance.left:instance.left + width]
    region.copy_(torch.where(instance.mask, instance.pixels, region))
