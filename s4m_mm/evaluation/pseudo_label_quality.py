# Copyright (c) s4m-mm authors. All rights reserved.
"""Quality of pseudo-masks against ground truth."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.fileio import get_local_path
from torch import Tensor

from s4m_mm.models.utils.geometry import warp_masks


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
    tp, used = 0, torch.zeros(len(gt), dtype=torch.bool, device=iou.device)
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


def batch_quality(preds: Sequence[Tensor], gts: Sequence[Tensor],
                  iou_thr: float = 0.5) -> Dict[str, float]:
    """:func:`pseudo_label_quality` of a batch: ``preds[b]`` ``(P_b, H,
    W)`` and ``gts[b]`` ``(G_b, H, W)`` bool masks of image ``b``."""
    return pseudo_label_quality(
        [match_masks(pred, gt, iou_thr) for pred, gt in zip(preds, gts)])


def clip_to_image(masks: Tensor, img_shape: Sequence[int]) -> Tensor:
    """``(N, H, W)`` bool masks of a padded batch input with the pixels
    outside the image's ``img_shape`` ``(h, w)`` set to False (a copy)."""
    masks = masks.clone()
    h, w = int(img_shape[0]), int(img_shape[1])
    masks[:, h:, :] = False
    masks[:, :, w:] = False
    return masks


def masks_to_view(masks: Tensor, metainfo: dict) -> Tensor:
    """Carry masks of the original image into an augmented view.

    Args:
        masks (Tensor): ``(G, H0, W0)`` bool at the original image size
            (``ori_shape``).
        metainfo (dict): the view's sample metainfo with
            ``homography_matrix`` (original -> view, recorded by mmdet's
            geometric transforms), ``batch_input_shape`` and
            ``img_shape``.

    Returns:
        Tensor: ``(G', H, W)`` bool on the batch input canvas, clipped to
        ``img_shape``; masks with no pixel left in the view are dropped.
    """
    for key in ('homography_matrix', 'batch_input_shape', 'img_shape'):
        if key not in metainfo:
            raise KeyError(
                f'the sample of image {metainfo.get("img_id")} has no '
                f'`{key}` in its metainfo; add it to the meta_keys of '
                'PackDetInputs in the unlabeled pipeline')
    masks = warp_masks(masks, metainfo['homography_matrix'],
                       metainfo['batch_input_shape'])
    masks = clip_to_image(masks, metainfo['img_shape'])
    return masks[masks.flatten(1).any(dim=1)]


class CocoGroundTruthMasks:
    """Ground-truth instance masks of a COCO-format json, by image id.

    Masks are rasterised (pycocotools) at the ``height`` x ``width`` the
    json gives for the image; crowd annotations (``iscrowd=1``) are left
    out, as they are not instances to find.

    Args:
        ann_file (str): the COCO json.
        backend_args (dict, optional): file backend of ``ann_file``.
    """

    def __init__(self, ann_file: str,
                 backend_args: Optional[dict] = None) -> None:
        from mmdet.datasets.api_wrappers import COCO
        self.ann_file = ann_file
        with get_local_path(ann_file, backend_args=backend_args) as local:
            self.coco = COCO(local)
        if not self.coco.dataset.get('annotations'):
            raise ValueError(
                f'{ann_file} has no annotations: it cannot be the ground '
                'truth of the unlabeled images (give the json that has it)')

    def __contains__(self, img_id: int) -> bool:
        return img_id in self.coco.imgs

    def image_hw(self, img_id: int) -> tuple:
        """``(height, width)`` of the image in the json."""
        info = self._image_info(img_id)
        return int(info['height']), int(info['width'])

    def masks(self, img_id: int, device=None) -> Tensor:
        """``(G, height, width)`` bool masks of the image's non-crowd
        annotations, in the json's order."""
        height, width = self.image_hw(img_id)
        arrays = []
        for ann in self.coco.imgToAnns[img_id]:
            if ann.get('iscrowd', 0):
                continue
            if not ann.get('segmentation'):
                raise ValueError(
                    f'{self.ann_file}: annotation {ann.get("id")} of image '
                    f'{img_id} has no segmentation')
            arrays.append(self.coco.annToMask(ann).astype(bool))
        if not arrays:
            return torch.zeros((0, height, width), dtype=torch.bool,
                               device=device)
        return torch.from_numpy(np.stack(arrays)).to(device)

    def _image_info(self, img_id: int) -> dict:
        if img_id not in self.coco.imgs:
            raise KeyError(f'image id {img_id!r} is not in the ground-truth '
                           f'file {self.ann_file}')
        return self.coco.imgs[img_id]
