# Copyright (c) s4m-mm authors. All rights reserved.
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from mmdet.models.dense_heads import Mask2FormerHead
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from s4m_mm.models.utils.structural_distill import (sample_query_points,
                                                    structural_distill_loss)


@MODELS.register_module()
class SAMDistillMask2FormerHead(Mask2FormerHead):
    """Mask2Former head with S4M's structural distillation loss L_SD.

    Besides Mask2Former's class / mask / dice losses on every decoder layer,
    the pixel decoder's per-pixel embedding (``mask_features``, stride 4) is
    taught SAM's structure: for P query points per image, the cosine
    self-similarity map ``C_T(p, j) = cos(F_T[x_p], F_T[j])`` on SAM's
    embedding grid should match SAM's ``C_SAM`` (computed by the detector,
    see :func:`sam_similarity_targets`). The loss is added once (it does not
    depend on the decoder layer). The head has no extra parameters: its
    weights load into a stock :class:`Mask2FormerHead`.

    Args:
        loss_sd (dict): the loss between ``C_T`` and ``C_SAM``; the paper
            uses SmoothL1 (beta 1) with weight 1.
        num_sd_points (int): P, query points per image. Defaults to 128.
        sd_fg_ratio (float): share of points drawn on GT foreground.
            Defaults to 0.5.
        *args, **kwargs: those of :class:`Mask2FormerHead`.
    """

    def __init__(self,
                 *args,
                 loss_sd: dict = dict(
                     type='SmoothL1Loss', beta=1.0, loss_weight=1.0),
                 num_sd_points: int = 128,
                 sd_fg_ratio: float = 0.5,
                 **kwargs):
        super().__init__(*args, **kwargs)
        if num_sd_points < 1:
            raise ValueError(f'num_sd_points must be >= 1, got '
                             f'{num_sd_points}')
        if not 0.0 <= sd_fg_ratio <= 1.0:
            raise ValueError(f'sd_fg_ratio must be in [0, 1], got '
                             f'{sd_fg_ratio}')
        self.loss_sd = MODELS.build(loss_sd)
        self.num_sd_points = num_sd_points
        self.sd_fg_ratio = sd_fg_ratio

    def sample_sd_points(self,
                         batch_data_samples: SampleList,
                         device: torch.device,
                         generator: Optional[torch.Generator] = None
                         ) -> Tensor:
        """``(B, P, 2)`` query points, ``(x, y)`` pixels of the batch input:
        half on the union of each image's GT masks, the rest anywhere in the
        image (never in the padding)."""
        points = []
        for sample in batch_data_samples:
            h_pad, w_pad = sample.batch_input_shape
            masks = sample.gt_instances.masks
            if len(masks):
                fg = masks.to_tensor(torch.bool, device).any(dim=0)
            else:
                fg = torch.zeros((h_pad, w_pad), dtype=torch.bool,
                                 device=device)
            points.append(
                sample_query_points(fg, sample.img_shape, self.num_sd_points,
                                    self.sd_fg_ratio, generator))
        return torch.stack(points)

    def loss(self,
             x: Tuple[Tensor],
             batch_data_samples: SampleList,
             sd_targets: Optional[Dict[str, Tensor]] = None
             ) -> Dict[str, Tensor]:
        """Mask2Former's losses, plus ``loss_sd`` when ``sd_targets`` (the
        output of the detector's SAM side: ``points``, ``c_sam``,
        ``grid_xy``, ``valid``) is given."""
        captured = {}

        def keep_mask_features(module, inputs, outputs):
            captured['mask_features'] = outputs[0]

        handle = self.pixel_decoder.register_forward_hook(keep_mask_features)
        try:
            losses = super().loss(x, batch_data_samples)
        finally:
            handle.remove()
        if sd_targets is not None:
            losses['loss_sd'] = structural_distill_loss(
                captured['mask_features'],
                sd_targets['points'],
                sd_targets['c_sam'],
                sd_targets['grid_xy'],
                sd_targets['valid'],
                batch_data_samples[0].batch_input_shape,
                self.loss_sd)
        return losses
