# Copyright (c) s4m-mm authors. All rights reserved.
"""A bank of SAM's SD targets per labeled image, computed once.

The SD target of a query point ``p`` is SAM's cosine self-similarity map
``C_SAM(p, .)`` of the point's prompt-conditioned features; with SAM
frozen it depends on the image and the point only. :class:`SDTargetBank`
computes, once per labeled image and in its source frame, the maps of the
query points on a lattice of SAM's own cells (every ``stride``-th cell of
SAM's ``h x w`` grid) over all ``h x w`` cells, and keeps them in a
:class:`SAMEmbeddingStore` (half precision; in memory and optionally on
disk). A view's targets then cost no SAM call: each query point is mapped
into the source, its map interpolated bilinearly between the four
surrounding lattice points, and read at the view's SAM cells mapped into
the source (bilinear between cells), as
:func:`sam_similarity_targets_in_source` reads a freshly computed map.

Entry size: ``ceil(h / stride) * ceil(w / stride) * h * w`` half floats,
e.g. 8 MiB an image for a 64 x 64 grid at stride 2 (SAM 1, LiteMedSAM,
SAM 2).
"""
import math
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mmdet.registry import TASK_UTILS
from s4m_mm.models.sam.embed_store import StoreKey
from .geometry import transform_points
from .structural_distill import cosine_self_similarity, sample_at


def lattice_coords(sam, stride: int) -> Tensor:
    """``(Qh * Qw, 2)`` ``(x, y)`` SAM input pixels of the lattice: the
    centres of every ``stride``-th cell of SAM's grid, row-major."""
    h, w = sam.embed_size
    cell_h, cell_w = sam.img_size / h, sam.img_size / w
    ys = (torch.arange(0, h, stride, dtype=torch.float32) + 0.5) * cell_h
    xs = (torch.arange(0, w, stride, dtype=torch.float32) + 0.5) * cell_w
    yy, xx = torch.meshgrid(ys, xs, indexing='ij')
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def lattice_shape(sam, stride: int) -> Tuple[int, int]:
    h, w = sam.embed_size
    return math.ceil(h / stride), math.ceil(w / stride)


@torch.no_grad()
def bank_entry(sam, embeddings, stride: int, chunk: int = 64) -> Tensor:
    """``(Qh, Qw, h, w)`` float32: ``C_SAM`` of each lattice query of one
    image over SAM's cells of that image.

    Args:
        sam (BaseSAMAdapter): frozen SAM.
        embeddings (SAMEmbeddings): the image's (a batch of 1).
        stride (int): lattice step in SAM cells.
        chunk (int): queries per decoder call.
    """
    h, w = sam.embed_size
    sam_hw = (sam.img_size, sam.img_size)
    queries = lattice_coords(sam, stride).to(embeddings.device)
    scale_x, scale_y = sam.input_scale(embeddings.img_shape)
    pixels = queries / queries.new_tensor([scale_x, scale_y])
    rows = []
    for start in range(0, len(queries), chunk):
        sl = slice(start, start + chunk)
        feats = sam.point_features(embeddings, pixels[sl])  # (n, hw, C)
        n = feats.shape[0]
        maps = feats.transpose(1, 2).reshape(n, -1, h, w)
        at_point = sample_at(maps, queries[sl, None], sam_hw)  # (n, 1, C)
        rows.append(cosine_self_similarity(at_point, feats)[:, 0])
    return torch.cat(rows).reshape(*lattice_shape(sam, stride), h, w)


def read_bank(entry: Tensor, sam, stride: int, sam_points: Tensor,
              sam_cells: Tensor) -> Tensor:
    """Targets of query points at cells, both in SAM input pixels of the
    entry's image, from a bank entry.

    Args:
        entry (Tensor): ``(Qh, Qw, h, w)`` from :func:`bank_entry`.
        sam_points (Tensor): ``(P, 2)`` query points.
        sam_cells (Tensor): ``(J, 2)`` where to read each point's map.

    Returns:
        Tensor: ``(P, J)`` float32.
    """
    qh, qw, h, w = entry.shape
    cell_h, cell_w = sam.img_size / h, sam.img_size / w
    # lattice index of each point: point (i, j) sits at ((j * stride +
    # 0.5) * cell_w, (i * stride + 0.5) * cell_h); beyond the last row or
    # column a point reads the border
    u = (sam_points[:, 0] / cell_w - 0.5) / stride
    v = (sam_points[:, 1] / cell_h - 0.5) / stride
    grid = torch.stack([
        u / max(qw - 1, 1) * 2 - 1, v / max(qh - 1, 1) * 2 - 1
    ], dim=-1).float()
    maps = entry.float().permute(2, 3, 0, 1).reshape(1, h * w, qh, qw)
    per_point = F.grid_sample(
        maps, grid[None, :, None], mode='bilinear', padding_mode='border',
        align_corners=True)[0, :, :, 0]  # (h * w, P)
    per_point = per_point.transpose(0, 1).reshape(-1, 1, h, w)
    n = per_point.shape[0]
    out = sample_at(per_point, sam_cells[None].expand(n, -1, -1),
                    (sam.img_size, sam.img_size))  # (P, J, 1)
    return out[..., 0]


class SDTargetBank:
    """SD targets of labeled images from a bank computed once (see the
    module docstring).

    Args:
        sam (BaseSAMAdapter): the frozen SAM of the targets.
        source (SourceFrameEncoder): the labeled images' source frame,
            whose embeddings an entry is computed from (the same SAM).
        stride (int): lattice step in SAM cells (1: a query at every cell).
        store (dict, optional): the :class:`SAMEmbeddingStore` of the
            entries (``memory_bytes``, ``disk_dir``, ``dtype``); default
            4 GiB in memory. Use its own ``disk_dir``, not the embeddings'.
        chunk (int): queries per decoder call when an entry is computed.

    Attributes:
        misses (int): images whose entry the last :meth:`targets` call
            computed.
    """

    def __init__(self, sam, source, stride: int = 2, store: dict = None,
                 chunk: int = 64) -> None:
        if not isinstance(stride, int) or stride < 1:
            raise ValueError(f'SDTargetBank: stride must be an int >= 1, got '
                             f'{stride!r}')
        self.sam = sam
        self.source = source
        self.stride = stride
        self.chunk = chunk
        self.store = TASK_UTILS.build(
            dict(type='SAMEmbeddingStore', memory_bytes=4 * 2**30,
                 **(store or {})))
        self.misses = 0

    def key(self, image_key: StoreKey) -> StoreKey:
        """The bank's key of an image: its embedding key with the bank's
        stride in the SAM identity."""
        return StoreKey(image_key.file,
                        dict(image_key.sam, sd_bank_stride=self.stride),
                        image_key.source_hw)

    def entries(self, data_samples, device) -> List[Tensor]:
        """One bank entry per sample (computed from its source embedding
        on a miss, once per image of the batch)."""
        sam, source = self.sam, self.source
        image_keys = [source.key(s, device) for s in data_samples]
        keys = [self.key(k) for k in image_keys]
        found = {}
        for key in keys:
            if key.id not in found:
                entry = self.store.get(key)
                found[key.id] = None if entry is None else entry[0]
        missing = [i for i, key in enumerate(keys) if found[key.id] is None]
        seen = set()
        for i in missing:
            if keys[i].id in seen:
                continue
            seen.add(keys[i].id)
            emb = source.embeddings([data_samples[i]], device)[0]
            entry = bank_entry(sam, emb, self.stride, self.chunk)
            found[keys[i].id] = self.store.put(keys[i], (entry, ))[0]
        self.misses = len(seen)
        return [found[key.id].to(device) for key in keys]

    @torch.no_grad()
    def targets(self, data_samples, points: Tensor,
                input_hw: Sequence[int]) -> Tuple[Tensor, Tensor, Tensor]:
        """``c_sam (B, P, J)``, ``grid_xy (J, 2)`` and ``valid (J, )`` of
        the views, as :func:`sam_similarity_targets_in_source` returns
        them.

        Args:
            data_samples (list[DetDataSample]): the views.
            points (Tensor): ``(B, P, 2)`` query points, view pixels.
            input_hw: ``(H, W)`` of the batch input.
        """
        sam, source = self.sam, self.source
        H, W = (int(s) for s in input_hw)
        grid_xy = sam.cell_centres((H, W)).to(points.device)
        valid = sam.valid_cells((H, W)).to(points.device)
        entries = self.entries(data_samples, points.device)
        rows = []
        for b, (sample, entry) in enumerate(zip(data_samples, entries)):
            meta = source.meta(sample)
            matrix: np.ndarray = source.to_source(meta)
            src_hw = meta['ori_shape'][:2]
            sam_points = sam.to_input_coords(
                transform_points(points[b].float(), matrix), src_hw)
            sam_cells = sam.to_input_coords(
                transform_points(grid_xy, matrix), src_hw)
            rows.append(read_bank(entry, sam, self.stride, sam_points,
                                  sam_cells))
        return torch.stack(rows), grid_xy, valid
