# Copyright (c) s4m-mm authors. All rights reserved.
import torch

from s4m_mm.evaluation import match_masks, pseudo_label_quality
from s4m_mm.evaluation.pseudo_label_quality import pairwise_mask_iou


def square(y, x, s, size=16):
    m = torch.zeros(size, size, dtype=torch.bool)
    m[y:y + s, x:x + s] = True
    return m


def test_pairwise_iou_values():
    a = torch.stack([square(0, 0, 4), square(8, 8, 4)])
    b = torch.stack([square(0, 0, 4), square(0, 2, 4)])
    iou = pairwise_mask_iou(a, b)
    assert torch.allclose(iou, torch.tensor([[1.0, 8 / 24], [0.0, 0.0]]))


def test_match_is_one_to_one_and_counts():
    gt = torch.stack([square(0, 0, 4), square(8, 8, 4)])
    pred = torch.stack([square(0, 0, 4), square(0, 1, 4), square(12, 0, 3)])
    r = match_masks(pred, gt, 0.5)
    # two predictions overlap GT 0 well, only one may match it
    assert r['tp'] == 1 and r['num_pred'] == 3 and r['num_gt'] == 2
    assert torch.allclose(r['best_iou'], torch.tensor([1.0, 12 / 20, 0.0]))
    q = pseudo_label_quality([r, match_masks(gt, gt)])
    assert q['precision'] == 3 / 5 and q['recall'] == 3 / 4
    assert abs(q['mean_iou'] - (1 + 0.6 + 0 + 1 + 1) / 5) < 1e-6


def test_empty_cases():
    gt = torch.stack([square(0, 0, 4)])
    none = torch.zeros(0, 16, 16, dtype=torch.bool)
    q = pseudo_label_quality([match_masks(none, gt)])
    assert q == dict(mean_iou=0.0, precision=0.0, recall=0.0, num_pseudo=0,
                     num_gt=1)
