# Copyright (c) s4m-mm authors. All rights reserved.
"""The pastes of an ARP call replayed on other masks of the same batch
(the ground truth that the pseudo-label quality metric compares the
student's mixed pseudo-labels with)."""
from typing import Dict, List, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from s4m_mm.models.data_preprocessors.arp_geometry import (
    ARPPaste, ARPRecord, CutGeometry, remove_occluded_pixels)


def cut_masks(masks: Tensor, cut: CutGeometry) -> Tensor:
    """Cut other ``(G, H, W)`` bool masks of a source image exactly as a
    pasted instance's patch was cut (box, nearest-exact rescale, crop).

    Returns:
        Tensor: ``(G, h, w)`` bool, aligned with the instance's ``mask``.
    """
    x1, y1, x2, y2 = cut.box
    patch = masks[:, y1:y2, x1:x2]
    if cut.resized_hw is None:
        return patch
    patch = F.interpolate(
        patch[:, None].float(), size=cut.resized_hw,
        mode='nearest-exact')[:, 0] > 0.5
    cx1, cy1, cx2, cy2 = cut.crop
    return patch[:, cy1:cy2, cx1:cx2]


def replay_arp_masks(masks: Sequence[Tensor],
                     record: ARPRecord) -> List[Tensor]:
    """Apply the ARP pastes of one :class:`AdaptiveRandomPaste` call to
    other masks of the same batch, e.g. the ground truth carried into the
    student's view, so that they can be compared with the mixed
    pseudo-labels.

    For an image ``b``, let ``R_1, ..., R_K`` be the ``(H, W)`` regions
    of the instances pasted into it, in pasting order (the pasted
    pseudo-masks, before occlusion), ``V_k = R_k`` minus ``R_{k+1} u
    ... u R_K`` (what stays visible of paste ``k``) and ``T_k`` the
    cut, rescale and placement that paste ``k`` applied to its source
    pixels. The result for ``b`` is, in this order:

    1. each mask ``m`` of ``masks[b]``: ``m`` minus ``R_1 u ... u R_K``
       (the receiver's pixels under pasted regions are replaced);
    2. each mask ``g`` of ``masks[s]``, ``s`` the image the pastes came
       from (its masks before the mix): ``T_1(g) n V_1 u ... u
       T_K(g) n V_K``, i.e. the source's masks restricted to the
       visible pasted regions.

    Empty masks are dropped; an image nothing was pasted into keeps its
    non-empty masks. When ``masks`` are the pseudo-labels that were
    mixed and no two masks of an image overlap, the result equals the
    mixed pseudo-labels (a mask of the source that was not pasted lies
    outside every pasted region).

    Args:
        masks (Sequence[Tensor]): ``B`` tensors ``(G_b, H, W)`` bool,
            at the mixed batch input's size.
        record (ARPRecord): the mix to replay (``AdaptiveRandomPaste
            .last_mix`` after the call).

    Returns:
        list[Tensor]: ``B`` tensors ``(G'_b, H, W)`` bool.
    """
    if not isinstance(record, ARPRecord):
        raise TypeError('replay_arp_masks needs the ARPRecord of an '
                        'AdaptiveRandomPaste call (its last_mix), got '
                        f'{type(record).__name__}')
    if len(masks) != record.batch_size:
        raise ValueError(f'replay_arp_masks got masks of {len(masks)} '
                         f'images for a mix of {record.batch_size}')
    for index, image_masks in enumerate(masks):
        if image_masks.dim() != 3 or \
                tuple(image_masks.shape[1:]) != record.image_hw:
            raise ValueError(
                f'masks[{index}] must be (G, {record.image_hw[0]}, '
                f'{record.image_hw[1]}) like the mixed batch, got shape '
                f'{tuple(image_masks.shape)}')
    masks = [image_masks.bool() for image_masks in masks]
    return [
        replay_into_image(masks, target, [
            paste for paste in record.pastes if paste.target == target
        ]) for target in range(record.batch_size)
    ]


def replay_into_image(masks: List[Tensor], target: int,
                      pastes: List[ARPPaste]) -> Tensor:
    """:func:`replay_arp_masks` for one receiving image ``target``, given
    the pastes into it in pasting order."""
    own = masks[target]
    if pastes:
        image_hw = tuple(own.shape[1:])
        regions = torch.stack(
            [paste.region(image_hw).to(own.device) for paste in pastes])
        visible = remove_occluded_pixels(regions)
        own = own & ~regions.any(dim=0)
        pasted: Dict[int, Tensor] = {}
        for paste, region in zip(pastes, visible):
            cut = cut_masks(masks[paste.source], paste.cut)
            placed = own.new_zeros((cut.shape[0], *image_hw))
            height, width = cut.shape[1:]
            placed[:, paste.top:paste.top + height,
                   paste.left:paste.left + width] = cut
            placed &= region
            if paste.source in pasted:
                placed |= pasted[paste.source]
            pasted[paste.source] = placed
        own = torch.cat([own, *pasted.values()])
    return own[own.flatten(1).any(dim=1)]
