# Copyright (c) s4m-mm authors. All rights reserved.
"""The SAM double and the hand-written reading of a feature map that the
tests of structural distillation (L_SD's arithmetic in
``models/utils/structural_distill.py`` and L_SD through
``SAMDistillMask2FormerHead``) share. Imported on its own
(``s4m_mm.testing.sam_doubles``): it loads the SAM adapters."""
import math

from s4m_mm.models.sam import BaseSAMAdapter, SAM2Adapter, SAMAdapter


class GridSAM:
    """A SAM double whose prompt-conditioned feature map is a fixed
    function of the image and the prompt, on a 16 x 16 grid of an
    ``img_size`` px input, with the real geometry of SAM 1 (longest side to
    ``S``, padded) or SAM 2 (resized to the square): enough to check the
    geometry and the arithmetic of SD."""

    embed_size = (16, 16)
    to_input_coords = BaseSAMAdapter.to_input_coords
    cell_centres = BaseSAMAdapter.cell_centres
    valid_cells = BaseSAMAdapter.valid_cells

    def __init__(self, maps, img_size=64, geometry='sam1'):
        self.maps = maps  # (B, C, 16, 16) per image
        self.img_size = img_size
        self.geometry = {'sam1': SAMAdapter, 'sam2': SAM2Adapter}[geometry]

    def input_scale(self, img_shape):
        return self.geometry.input_scale(self, img_shape)

    def embed_images(self, images):
        return self.maps

    def point_features(self, embeddings, points, image_index):
        base = embeddings[image_index]  # (N, C, h, w)
        # make the map depend on the prompt too
        bias = points.sum(dim=1)[:, None, None, None] * 1e-2
        return (base + bias).flatten(2).transpose(1, 2)  # (N, h*w, C)


def bilinear(feat, x, y, frame_hw):
    """``feat (C, h, w)`` covering a frame of ``frame_hw`` pixels, read at
    pixel ``(x, y)``: bilinear between cell centres, clamped to the border
    cells (by hand, for the reference)."""
    _, h, w = feat.shape
    H, W = frame_hw
    u = min(max(x * w / W - 0.5, 0.0), w - 1.0)
    v = min(max(y * h / H - 0.5, 0.0), h - 1.0)
    u0, v0 = int(math.floor(u)), int(math.floor(v))
    u1, v1 = min(u0 + 1, w - 1), min(v0 + 1, h - 1)
    a, b = u - u0, v - v0
    return ((1 - a) * (1 - b) * feat[:, v0, u0] + a * (1 - b) * feat[:, v0, u1]
            + (1 - a) * b * feat[:, v1, u0] + a * b * feat[:, v1, u1])
