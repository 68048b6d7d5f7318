# Copyright (c) s4m-mm authors. All rights reserved.
"""Quality of pseudo-masks against ground truth."""
from typing import Dict, List

import torch
from torch import Tensor


def pairwise_mask_iou(pred: Tensor, gt: Tensor) -> Tensor:
    """``(P, H, W)`` x ``(G, H, W)`` bool -> ``(P, G)`` IoU."""
    p = pred.flatten(1).float()
    g = gt.flatten(1).float()
    inter = p @ g.T
    union = p.sum(1)[:, None] + g.sum(1)[None] - inter
    return inter / union.clamp(min=1)


def match_masks(pred: Tensor, gt: Tensor, iou_thr: float = 0.5) -> Dict:
    """One image: each pseudo-mask's best IoU with a GT mask, and the
    counts for precision / recall at ``iou_thr`` (one-to-one greedy
    matching by IoU, as COCO does)."""
    if len(pred) == 0 or len(gt) == 0:
        return dict(best_iou=pred.new_zeros(len(pred)), tp=0,
                    num_pred=len(pred), num_gt=len(gt))
    iou = pairwise_mask_iou(pred, gt)
    best = iou.max(dim=1).values
    tp, used = 0, torch.zeros(len(gt), dtype=torch.bool)
    for p in best.argsort(descending=True).tolist():
        row = iou[p].clone()
        row[used] = -1
        g = int(row.argmax())
        if row[g] >= iou_thr:
            used[g] = True
            tp += 1
    return dict(best_iou=best, tp=tp, num_pred=len(pred), num_gt=len(gt))


def pseudo_label_quality(per_image: List[Dict]) -> Dict[str, float]:
    """Aggregate :func:`match_masks` results: ``mean_iou`` (mean over
    pseudo-masks of their best IoU with GT), ``precision`` and ``recall`` at
    the matching threshold, and the counts."""
    ious = torch.cat([r['best_iou'].float().cpu() for r in per_image]) \
        if per_image else torch.zeros(0)
    tp = sum(r['tp'] for r in per_image)
    num_pred = sum(r['num_pred'] for r in per_image)
    num_gt = sum(r['num_gt'] for r in per_image)
    return dict(
        mean_iou=float(ious.mean()) if len(ious) else 0.0,
        precision=tp / num_pred if num_pred else 0.0,
        recall=tp / num_gt if num_gt else 0.0,
        num_pseudo=num_pred,
        num_gt=num_gt)
