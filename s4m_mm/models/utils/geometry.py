# Copyright (c) s4m-mm authors. All rights reserved.
"""Carrying masks between two augmented views of the same image."""
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def view_to_view_matrix(src_homography, dst_homography) -> np.ndarray:
    """``dst @ inv(src)``: maps pixels of the ``src`` view to the ``dst``
    view, given each view's ``homography_matrix`` (original -> view) that
    mmdet's geometric transforms record."""
    src = np.asarray(src_homography, dtype=np.float64)
    dst = np.asarray(dst_homography, dtype=np.float64)
    return dst @ np.linalg.inv(src)


def warp_masks(masks: Tensor, matrix, out_hw: Sequence[int]) -> Tensor:
    """Warp ``(N, H, W)`` bool masks with a 3 x 3 pixel homography into an
    ``out_hw`` canvas (nearest neighbour; outside the source is False).

    The identity with an equal canvas returns the masks unchanged (no
    resampling), which is the common case of views that share geometry.
    """
    H_out, W_out = int(out_hw[0]), int(out_hw[1])
    matrix = torch.as_tensor(np.asarray(matrix), dtype=torch.float64)
    if masks.shape[-2:] == (H_out, W_out) and torch.allclose(
            matrix, torch.eye(3, dtype=torch.float64)):
        return masks.clone()
    n, H, W = masks.shape
    if n == 0:
        return masks.new_zeros((0, H_out, W_out))
    inv = torch.linalg.inv(matrix).to(torch.float32).to(masks.device)
    ys, xs = torch.meshgrid(
        torch.arange(H_out, device=masks.device, dtype=torch.float32) + 0.5,
        torch.arange(W_out, device=masks.device, dtype=torch.float32) + 0.5,
        indexing='ij')
    dst = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1)  # (H', W', 3)
    src = dst @ inv.T
    src = src[..., :2] / src[..., 2:3]
    grid = torch.stack([src[..., 0] / W, src[..., 1] / H], dim=-1) * 2 - 1
    out = F.grid_sample(
        masks[:, None].float(), grid[None].expand(n, -1, -1, -1),
        mode='nearest', padding_mode='zeros', align_corners=False)
    return out[:, 0] > 0.5


def clear_padding_(masks: Tensor, img_shape: Sequence[int]) -> Tensor:
    """Set, in place, the pixels of ``(N, H, W)`` masks outside the image's
    valid area ``img_shape`` (``(h, w)``, the rest is batch padding) to
    False.

    Returns:
        Tensor: ``masks``.
    """
    h, w = int(img_shape[0]), int(img_shape[1])
    masks[:, h:, :] = False
    masks[:, :, w:] = False
    return masks


def carry_masks_between_views(masks: Tensor, src_metainfo: dict,
                              dst_metainfo: dict) -> Tensor:
    """Carry ``(N, H, W)`` bool masks of one view of an image into another
    view of it.

    Each view's metainfo gives its ``homography_matrix`` (original ->
    view; the identity when absent); the destination's gives the canvas
    (``batch_input_shape``) and the valid area (``img_shape``), outside
    which the carried masks are False.

    Returns:
        Tensor: ``(N, H', W')`` bool at the destination's
        ``batch_input_shape`` (a new tensor; masks may be empty).
    """
    matrix = view_to_view_matrix(
        src_metainfo.get('homography_matrix', np.eye(3)),
        dst_metainfo.get('homography_matrix', np.eye(3)))
    masks = warp_masks(masks, matrix, dst_metainfo['batch_input_shape'])
    return clear_padding_(masks, dst_metainfo['img_shape'])


def _as_matrix(matrix, like: Tensor) -> Tensor:
    return torch.as_tensor(
        np.asarray(matrix, dtype=np.float64),
        dtype=torch.float64).to(like.device)


def transform_points(points: Tensor, matrix) -> Tensor:
    """Map ``(..., 2)`` ``(x, y)`` pixel coordinates (pixel ``i`` covers
    ``[i, i + 1)``, as mmdet's ``homography_matrix``) with a 3 x 3
    homography; same dtype as ``points``."""
    m = _as_matrix(matrix, points)
    xy = points.to(torch.float64)
    ones = torch.ones_like(xy[..., :1])
    out = torch.cat([xy, ones], dim=-1) @ m.T
    return (out[..., :2] / out[..., 2:3]).to(points.dtype)


def transform_boxes(boxes: Tensor, matrix) -> Tensor:
    """Map ``(N, 4)`` ``(x1, y1, x2, y2)`` boxes with a 3 x 3 homography:
    the box around the four mapped corners (exact for the flips, scalings
    and crops of mmdet's geometric transforms, which keep axes
    aligned)."""
    x1, y1, x2, y2 = boxes.unbind(dim=-1)
    corners = torch.stack([
        torch.stack([x1, y1], -1),
        torch.stack([x2, y1], -1),
        torch.stack([x1, y2], -1),
        torch.stack([x2, y2], -1)
    ], dim=-2)  # (N, 4, 2)
    mapped = transform_points(corners, matrix)
    return torch.cat([mapped.amin(dim=-2), mapped.amax(dim=-2)], dim=-1)


def warp_logits(logits: Tensor, matrix, out_hw: Sequence[int],
                fill: float = -1e4) -> Tensor:
    """Warp ``(N, H, W)`` float maps (e.g. mask logits) with a 3 x 3 pixel
    homography into an ``out_hw`` canvas by bilinear sampling at the output
    pixel centres; pixels whose centre maps outside the source get
    ``fill``.

    The identity with an equal canvas returns the maps unchanged; a flip
    samples exactly the mirrored pixel centres.
    """
    H_out, W_out = int(out_hw[0]), int(out_hw[1])
    m = _as_matrix(matrix, logits)
    if logits.shape[-2:] == (H_out, W_out) and torch.allclose(
            m, torch.eye(3, dtype=torch.float64, device=m.device)):
        return logits.clone()
    n, H, W = logits.shape
    if n == 0:
        return logits.new_zeros((0, H_out, W_out))
    ys, xs = torch.meshgrid(
        torch.arange(H_out, device=logits.device, dtype=torch.float64) + 0.5,
        torch.arange(W_out, device=logits.device, dtype=torch.float64) + 0.5,
        indexing='ij')
    src = transform_points(torch.stack([xs, ys], dim=-1), torch.linalg.inv(
        m).cpu().numpy())  # (H', W', 2) float64
    inside = (src[..., 0] >= 0) & (src[..., 0] < W) & \
        (src[..., 1] >= 0) & (src[..., 1] < H)
    grid = (torch.stack([src[..., 0] / W, src[..., 1] / H], dim=-1) * 2 -
            1).to(torch.float32)
    out = F.grid_sample(
        logits[:, None].float(), grid[None].expand(n, -1, -1, -1),
        mode='bilinear', padding_mode='border', align_corners=False)[:, 0]
    return torch.where(inside, out, out.new_tensor(fill)).to(logits.dtype)
