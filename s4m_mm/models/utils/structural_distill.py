# Copyright (c) s4m-mm authors. All rights reserved.
"""Structural distillation (SD) of S4M: point sampling, geometry between the
model's input frame and SAM's embedding grid, and cosine self-similarity.

Coordinates are ``(x, y)`` pixels of the model's (padded) batch input unless
a name says otherwise; a SAM embedding grid of ``h x w`` cells covers SAM's
``S x S`` input, into which the batch input is mapped by the SAM's own
geometry (SAM 1: longest side to ``S``, padded bottom-right; SAM 2: resized
to the square), see ``BaseSAMAdapter.input_scale``.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .geometry import transform_points


def sample_query_points(foreground: Tensor,
                        valid_hw: Sequence[int],
                        num_points: int,
                        fg_ratio: float = 0.5,
                        generator: Optional[torch.Generator] = None
                        ) -> Tensor:
    """Sample the SD query points of one image.

    ``round(num_points * fg_ratio)`` points are drawn uniformly without
    replacement from the foreground pixels; the rest (and any shortfall when
    there are fewer foreground pixels) uniformly over the valid image.

    Args:
        foreground (Tensor): ``(H, W)`` bool, the union of the GT masks.
        valid_hw (Sequence[int]): ``(h, w)`` of the image inside the padded
            input (``img_shape``); points never fall in the padding.
        num_points (int): P.
        fg_ratio (float): share of foreground points.
        generator (torch.Generator, optional): a CPU generator, for
            reproducible draws (indices are drawn on the CPU).

    Returns:
        Tensor: ``(P, 2)`` float ``(x, y)`` pixel centres.
    """
    h, w = int(valid_hw[0]), int(valid_hw[1])
    device = foreground.device
    fg = foreground[:h, :w].reshape(-1).nonzero(as_tuple=False).squeeze(1)
    num_fg = min(int(round(num_points * fg_ratio)), fg.numel())
    perm = torch.randperm(fg.numel(), generator=generator,
                          device='cpu').to(device)
    fg_idx = fg[perm[:num_fg]]
    rand_idx = torch.randint(
        h * w, (num_points - num_fg, ), generator=generator,
        device='cpu').to(device)
    idx = torch.cat([fg_idx, rand_idx])
    xy = torch.stack([idx % w, idx // w], dim=1).float() + 0.5
    return xy


def sample_at(features: Tensor, xy: Tensor, frame_hw: Sequence[int]) -> Tensor:
    """Bilinear samples of ``features`` at pixel positions.

    Args:
        features (Tensor): ``(B, C, h, w)`` covering a frame of
            ``frame_hw = (H, W)`` pixels.
        xy (Tensor): ``(B, N, 2)`` ``(x, y)`` pixels of that frame.

    Returns:
        Tensor: ``(B, N, C)``.
    """
    H, W = frame_hw
    norm = torch.stack([xy[..., 0] / W, xy[..., 1] / H], dim=-1) * 2 - 1
    out = F.grid_sample(
        features, norm.unsqueeze(2).to(features.dtype),
        mode='bilinear', padding_mode='border', align_corners=False)
    return out.squeeze(3).transpose(1, 2)


def cosine_self_similarity(point_feats: Tensor, grid_feats: Tensor) -> Tensor:
    """``C(p, j) = cos(F[x_p], F[j])``.

    Args:
        point_feats (Tensor): ``(B, P, C)``.
        grid_feats (Tensor): ``(B, J, C)``.

    Returns:
        Tensor: ``(B, P, J)``.
    """
    p = F.normalize(point_feats.float(), dim=-1)
    g = F.normalize(grid_feats.float(), dim=-1)
    return torch.bmm(p, g.transpose(1, 2))


def sam_similarity_targets(sam, images: Tensor, points: Tensor,
                           chunk: int = 64) -> Tuple[Tensor, Tensor, Tensor]:
    """SAM's side of SD: ``C_SAM`` for every point of every image.

    Each point is a separate single positive point prompt; its feature map is
    the image-token output of the mask decoder's last two-way block. The
    image is encoded once. ``F_SAM^p`` is read at the point bilinearly
    (SAM's grid of cell centres, in SAM input pixels).

    Args:
        sam (BaseSAMAdapter): frozen SAM.
        images (Tensor): ``(B, 3, H, W)`` RGB 0-255, the model's input.
        points (Tensor): ``(B, P, 2)`` ``(x, y)`` pixels of ``images``.
        chunk (int): points per decoder call.

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``c_sam (B, P, J)``, ``grid_xy
        (J, 2)`` (SAM cell centres in input pixels) and ``valid (J, )``
        (cells inside the input), with ``J = h * w``.
    """
    B, P, _ = points.shape
    H, W = images.shape[-2:]
    h, w = sam.embed_size
    with torch.no_grad():
        embeddings = sam.embed_images(images)
        flat_points = points.reshape(B * P, 2)
        sam_points = sam.to_input_coords(flat_points, (H, W))
        image_index = torch.arange(
            B, device=points.device).repeat_interleave(P)
        rows = []
        for start in range(0, B * P, chunk):
            sl = slice(start, start + chunk)
            feats = sam.point_features(embeddings, flat_points[sl],
                                       image_index[sl])  # (n, hw, C)
            maps = feats.transpose(1, 2).reshape(-1, feats.shape[-1], h, w)
            at_point = sample_at(maps, sam_points[sl, None],
                                 (sam.img_size, sam.img_size))  # (n, 1, C)
            rows.append(cosine_self_similarity(at_point, feats)[:, 0])
        c_sam = torch.cat(rows).reshape(B, P, h * w)
    grid_xy = sam.cell_centres((H, W)).to(points.device)
    valid = sam.valid_cells((H, W)).to(points.device)
    return c_sam, grid_xy, valid


def sam_similarity_targets_in_source(sam, embeddings: List,
                                     to_source: Sequence[np.ndarray],
                                     points: Tensor, input_hw: Sequence[int],
                                     chunk: int = 64
                                     ) -> Tuple[Tensor, Tensor, Tensor]:
    """SAM's side of SD with SAM in each image's source frame.

    As :func:`sam_similarity_targets`, but SAM's embedding is the source
    image's (encoded once, e.g. from a :class:`SourceFrameEncoder`): each
    query point is mapped into the source and prompted there, its
    self-similarity map ``C_SAM(p, .)`` is computed on the source's SAM
    cells and read at the *view's* SAM cell centres mapped into the source
    (bilinear between cells; a cell outside the source reads the border).
    The targets are on the view's grid, as the per-view path's, so the
    student's side of L_SD does not change. Where the view's cells fall on
    the source's (a view equal to its source, a flip, an integer
    upscaling) this is the per-view computation on the source embedding;
    in between, resampling the map instead of the features costs 1 / C of
    the work. The same arithmetic as a :class:`SDTargetBank` at stride 1
    for points on cell centres.

    Args:
        sam (BaseSAMAdapter): frozen SAM.
        embeddings (list[SAMEmbeddings]): per image, its source embedding
            (a batch of 1, frame ``img_shape`` = the source size).
        to_source (Sequence[np.ndarray]): per image, the ``(3, 3)`` view ->
            source homography (the inverse of ``homography_matrix``).
        points (Tensor): ``(B, P, 2)`` ``(x, y)`` pixels of the view.
        input_hw: ``(H, W)`` of the view (the batch input).
        chunk (int): points per decoder call.

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``c_sam (B, P, J)``, ``grid_xy
        (J, 2)`` and ``valid (J, )`` of the view's frame.
    """
    B, P, _ = points.shape
    H, W = (int(s) for s in input_hw)
    h, w = sam.embed_size
    sam_hw = (sam.img_size, sam.img_size)
    grid_xy = sam.cell_centres((H, W)).to(points.device)
    valid = sam.valid_cells((H, W)).to(points.device)
    rows = []
    with torch.no_grad():
        for b in range(B):
            emb, matrix = embeddings[b], to_source[b]
            src_points = transform_points(points[b].float(), matrix)
            sam_points = sam.to_input_coords(src_points, emb.img_shape)
            sam_cells = sam.to_input_coords(
                transform_points(grid_xy, matrix), emb.img_shape)
            for start in range(0, P, chunk):
                sl = slice(start, start + chunk)
                feats = sam.point_features(emb, src_points[sl])  # (n, hw, C)
                n = feats.shape[0]
                maps = feats.transpose(1, 2).reshape(n, -1, h, w)
                at_point = sample_at(maps, sam_points[sl, None], sam_hw)
                # C_SAM on the source's cells, then read at the view's
                # cells mapped there
                c_src = cosine_self_similarity(at_point, feats)  # (n, 1, hw)
                rows.append(sample_at(
                    c_src.reshape(n, 1, h, w),
                    sam_cells[None].expand(n, -1, -1).to(maps.device),
                    sam_hw)[..., 0])  # (n, J)
    c_sam = torch.cat(rows).reshape(B, P, h * w).to(points.device)
    return c_sam, grid_xy, valid


def structural_distill_loss(mask_features: Tensor, points: Tensor,
                            c_sam: Tensor, grid_xy: Tensor, valid: Tensor,
                            input_hw: Sequence[int], loss_fn) -> Tensor:
    """L_SD = mean over images, points and valid cells of
    ``loss_fn(C_T - C_SAM)`` (SmoothL1 against zero).

    Args:
        mask_features (Tensor): ``(B, C, H/4, W/4)`` per-pixel embeddings of
            the pixel decoder.
        points (Tensor): ``(B, P, 2)`` query points, input pixels.
        c_sam (Tensor): ``(B, P, J)`` SAM targets.
        grid_xy (Tensor): ``(J, 2)`` SAM cell centres, input pixels.
        valid (Tensor): ``(J, )`` bool.
        input_hw: ``(H, W)`` of the batch input.
        loss_fn: an mmdet loss module called as ``loss_fn(pred, target)``.
    """
    B = mask_features.shape[0]
    grid = grid_xy[valid].unsqueeze(0).expand(B, -1, -1)
    f_grid = sample_at(mask_features, grid, input_hw)  # (B, J', C)
    f_points = sample_at(mask_features, points, input_hw)  # (B, P, C)
    c_t = cosine_self_similarity(f_points, f_grid)
    return loss_fn(c_t, c_sam[..., valid].to(c_t.dtype))
