# Copyright (c) s4m-mm authors. All rights reserved.
"""Pseudo-labels of S4M's stage 2: selection from the teacher's raw outputs
and the prompts used to refine them with SAM."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor

POINT_SAMPLING = ('logits', 'soft_in_mask', 'in_mask')


def select_pseudo_instances(cls_logits: Tensor,
                            mask_logits: Tensor,
                            score_thr: float = 0.7,
                            min_mask_sum: float = 5.0) -> InstanceData:
    """The paper's selection of one image's pseudo-instances.

    Keep the queries whose argmax class is not "no object" and whose softmax
    confidence is above ``score_thr``, then drop masks whose sigmoid sum is
    at most ``min_mask_sum`` (at the mask-logit resolution).

    Args:
        cls_logits (Tensor): ``(Q, K + 1)``, the last class is "no object".
        mask_logits (Tensor): ``(Q, h, w)``, stride-4 mask logits.

    Returns:
        InstanceData: ``labels (N,)``, ``scores (N,)``, ``mask_logits
        (N, h, w)`` and ``masks (N, h, w)`` bool (sigmoid > 0.5).
    """
    probs = cls_logits.softmax(dim=-1)
    scores, labels = probs.max(dim=-1)
    no_object = cls_logits.shape[-1] - 1
    keep = (labels != no_object) & (scores > score_thr)
    soft = mask_logits.sigmoid()
    keep &= soft.flatten(1).sum(dim=1) > min_mask_sum
    return InstanceData(
        labels=labels[keep],
        scores=scores[keep],
        mask_logits=mask_logits[keep],
        masks=soft[keep] > 0.5)


def point_weights(mask_logits: Tensor, sampling: str) -> Tensor:
    """``(N, h, w)`` -> ``(N, h * w)`` float CPU weights of each pixel as
    a prompt point under ``sampling`` (see :func:`sample_prompt_points`).
    ``'in_mask'`` binarises on the masks' device, so that a full-resolution
    bool, a quarter of a float's bytes, crosses to the CPU generator."""
    if sampling == 'in_mask':
        return (mask_logits.detach() != 0).flatten(1).cpu().float()
    flat = mask_logits.detach().float().flatten(1).cpu()
    if sampling == 'logits':
        return flat.softmax(dim=1)
    soft = flat.sigmoid()
    return soft * (soft > 0.5)


def sample_prompt_points(mask_logits: Tensor,
                         num_points: int = 3,
                         sampling: str = 'logits',
                         generator: Optional[torch.Generator] = None
                         ) -> Tensor:
    """Draw ``num_points`` distinct pixels per instance as SAM point prompts.

    ``'logits'`` (the paper's code): probabilities ``softmax`` of the mask
    logits over all pixels. ``'soft_in_mask'`` (the paper's text): the soft
    mask ``sigmoid(logits)`` restricted to the binary mask (sigmoid > 0.5);
    an instance with fewer such pixels than ``num_points`` gets all of them,
    and the missing prompts are marked with label -1 (SAM's "not a point").
    ``'in_mask'`` (for teachers without mask logits, e.g. Mask R-CNN's or
    RTMDet-Ins' ``predict``): uniform over the pixels of a binary mask,
    given as ``mask_logits`` (nonzero = in the mask), short rows as in
    ``'soft_in_mask'``.

    Args:
        mask_logits (Tensor): ``(N, h, w)``; the binary masks for
            ``'in_mask'``.
        generator (torch.Generator, optional): a CPU generator.

    Returns:
        tuple[Tensor, Tensor]: ``points (N, K, 2)`` ``(x, y)`` pixel centres
        of the ``h x w`` map, and ``labels (N, K)`` (1 or -1).
    """
    if sampling not in POINT_SAMPLING:
        raise ValueError(f'point sampling must be one of {POINT_SAMPLING}, '
                         f'got {sampling!r}')
    n, h, w = mask_logits.shape
    weights = point_weights(mask_logits, sampling)
    available = (weights > 0).sum(dim=1)
    k = min(num_points, h * w)
    labels = torch.ones(n, k)
    # rows without enough candidates: draw what exists, mark the rest -1
    short = available < k
    weights[short] += (weights[short] == 0) * 1e-12
    idx = torch.multinomial(weights, k, replacement=False,
                            generator=generator) if n else torch.zeros(
                                0, k, dtype=torch.long)
    if short.any():
        ranks = torch.arange(k).expand(n, k)
        labels[short] = torch.where(ranks[short] < available[short, None],
                                    1.0, -1.0)
    xy = torch.stack([idx % w, idx // w], dim=-1).float() + 0.5
    device = mask_logits.device
    return xy.to(device), labels.to(device)


def boxes_from_masks(masks: Tensor) -> Tensor:
    """``(N, H, W)`` bool -> ``(N, 4)`` xyxy boxes (x2, y2 exclusive); an
    empty mask gives a zero box."""
    n = masks.shape[0]
    if n == 0:
        return masks.new_zeros((0, 4), dtype=torch.float32)
    rows, cols = masks.any(dim=2), masks.any(dim=1)
    h, w = masks.shape[1:]
    ar_y = torch.arange(h, device=masks.device)
    ar_x = torch.arange(w, device=masks.device)
    big = h + w
    y0 = torch.where(rows, ar_y, big).min(dim=1).values
    y1 = torch.where(rows, ar_y, -1).max(dim=1).values + 1
    x0 = torch.where(cols, ar_x, big).min(dim=1).values
    x1 = torch.where(cols, ar_x, -1).max(dim=1).values + 1
    boxes = torch.stack([x0, y0, x1, y1], dim=1).float()
    return torch.where(masks.flatten(1).any(dim=1)[:, None], boxes,
                       torch.zeros_like(boxes))


def mask_iou(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise IoU of two ``(N, H, W)`` bool mask sets -> ``(N,)``."""
    inter = (a & b).flatten(1).sum(dim=1).float()
    union = (a | b).flatten(1).sum(dim=1).float()
    return inter / union.clamp(min=1)


def upsample_logits(mask_logits: Tensor, size) -> Tensor:
    """Bilinear ``(N, h, w)`` -> ``(N, H, W)``."""
    if mask_logits.shape[0] == 0:
        return mask_logits.new_zeros((0, *size))
    return F.interpolate(
        mask_logits[:, None].float(), size=tuple(size), mode='bilinear',
        align_corners=False)[:, 0]
