# Copyright (c) s4m-mm authors. All rights reserved.
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdet.registry import MODELS
from s4m_mm.models.sam import SAMEmbeddings
from s4m_mm.models.utils.pseudo_labels import (boxes_from_masks, mask_iou,
                                               sample_prompt_points)

PROMPT_MODES = ('points', 'box', 'box+points')


@MODELS.register_module()
class SAMPseudoLabelRefiner(nn.Module):
    """Refine the teacher's pseudo-masks with a frozen SAM (S4M, stage 2).

    For every kept instance, K points are drawn without replacement from its
    mask logits (see :func:`sample_prompt_points`), scaled to input pixels,
    and given to SAM as one prompt of K positive points with
    ``multimask_output=True``; the candidate with the highest predicted IoU,
    thresholded at SAM's logit 0, replaces the pseudo-mask. The class stays.
    All instances of the batch go through one decoder call (the adapter
    chunks it) after one encoder pass per image.

    Beyond the paper (off by default):

    - ``prompt='box'`` or ``'box+points'``: a box from the pseudo-mask, alone
      or with the points;
    - ``gate``: keep the teacher's mask when SAM's predicted IoU is below
      ``gate['min_pred_iou']`` or its IoU with the teacher's mask is below
      ``gate['min_agreement']``.

    Args:
        sam (dict): config of the frozen SAM (``SAM2Adapter``,
            ``SAMAdapter`` or ``LiteMedSAMAdapter``).
        prompt (str): ``'points'`` (paper), ``'box'`` or ``'box+points'``.
        num_points (int): K. Defaults to 3.
        point_sampling (str): ``'logits'`` (paper code) or
            ``'soft_in_mask'`` (paper text).
        gate (dict, optional): ``min_pred_iou`` and / or ``min_agreement``.
    """

    def __init__(self,
                 sam: dict,
                 prompt: str = 'points',
                 num_points: int = 3,
                 point_sampling: str = 'logits',
                 gate: Optional[dict] = None):
        super().__init__()
        if prompt not in PROMPT_MODES:
            raise ValueError(f'refiner prompt must be one of {PROMPT_MODES}, '
                             f'got {prompt!r}')
        if num_points < 1 and prompt != 'box':
            raise ValueError(f'num_points must be >= 1, got {num_points}')
        gate = dict(gate or {})
        unknown = set(gate) - {'min_pred_iou', 'min_agreement'}
        if unknown:
            raise ValueError(f'unknown gate keys {sorted(unknown)}; use '
                             'min_pred_iou and / or min_agreement')
        self.sam = MODELS.build(sam)
        self.prompt = prompt
        self.num_points = num_points
        self.point_sampling = point_sampling
        self.gate = gate
        #: where SAM runs (None: the images' device); set by the hook
        self.sam_device: Optional[str] = None

    def prompts(self, instances: List[InstanceData], input_hw,
                generator: Optional[torch.Generator] = None) -> Dict:
        """Prompts of all instances of the batch, in input pixels:
        ``image_index (N,)``, ``points (N, K, 2)`` / ``point_labels (N, K)``
        and / or ``boxes (N, 4)``."""
        H, W = input_hw
        device = self.device_of(instances)
        index = torch.cat([
            torch.full((len(inst), ), i, dtype=torch.long, device=device)
            for i, inst in enumerate(instances)
        ])
        out = dict(image_index=index)
        if self.prompt in ('points', 'box+points'):
            logits = torch.cat([inst.mask_logits for inst in instances])
            h, w = logits.shape[-2:]
            xy, labels = sample_prompt_points(logits, self.num_points,
                                              self.point_sampling, generator)
            out['points'] = xy * xy.new_tensor([W / w, H / h])
            out['point_labels'] = labels
        if self.prompt in ('box', 'box+points'):
            masks = torch.cat([inst.masks for inst in instances])
            out['boxes'] = boxes_from_masks(masks)
        return out

    @staticmethod
    def device_of(instances: List[InstanceData]) -> torch.device:
        for inst in instances:
            return inst.masks.device
        return torch.device('cpu')

    @torch.no_grad()
    def forward(self,
                images: Tensor,
                instances: List[InstanceData],
                generator: Optional[torch.Generator] = None
                ) -> Tuple[List[InstanceData], Dict[str, float]]:
        """Refine the pseudo-masks of a batch: one encoder pass per image
        (:meth:`embed`), then one decoder call for all instances
        (:meth:`refine_embedded`).

        Args:
            images (Tensor): ``(B, 3, H, W)`` RGB 0-255, the teacher's view.
            instances (list[InstanceData]): per image, ``masks (N, H, W)``
                bool in the input frame and ``mask_logits (N, h, w)``.

        Returns:
            tuple: the refined instances (new objects; ``masks`` replaced,
            everything else kept) and statistics: ``instances``,
            ``refined`` (masks replaced), ``iou_teacher_refined`` (mean IoU
            of the teacher's and SAM's masks) and ``sam_pred_iou``.
        """
        if sum(len(inst) for inst in instances) == 0:
            return [inst.clone() for inst in instances], dict(
                instances=0, refined=0)
        return self.refine_embedded(self.embed(images), instances, generator)

    @torch.no_grad()
    def embed(self, images: Tensor) -> SAMEmbeddings:
        """SAM image embeddings of ``(B, 3, H, W)`` RGB 0-255 images, on
        SAM's device."""
        if self.sam_device is not None:
            images = images.to(self.sam_device)
        return self.sam.embed_images(images)

    @torch.no_grad()
    def refine_embedded(self,
                        embeddings: SAMEmbeddings,
                        instances: List[InstanceData],
                        generator: Optional[torch.Generator] = None
                        ) -> Tuple[List[InstanceData], Dict[str, float]]:
        """The decoder half of :meth:`forward`: all instances of the batch
        in one (chunked) decoder call per image on the images'
        ``embeddings`` (whose frame is the instances' input frame)."""
        H, W = embeddings.img_shape
        total = sum(len(inst) for inst in instances)
        if total == 0:
            return [inst.clone() for inst in instances], dict(
                instances=0, refined=0)
        prompts = self.prompts(instances, (H, W), generator)
        out_device = self.device_of(instances)
        prompts = {k: v.to(embeddings.device) for k, v in prompts.items()}
        # multimask, the candidate of highest predicted IoU
        logits, sam_iou = self.sam.predict_best_masks(
            embeddings,
            prompts['image_index'],
            points=prompts.get('points'),
            point_labels=prompts.get('point_labels'),
            boxes=prompts.get('boxes'),
            out_size=(H, W))
        sam_masks = (logits > 0).to(out_device)
        sam_iou = sam_iou.to(out_device)
        teacher_masks = torch.cat([inst.masks for inst in instances])
        agreement = mask_iou(teacher_masks, sam_masks)
        accept = torch.ones_like(agreement, dtype=torch.bool)
        if 'min_pred_iou' in self.gate:
            accept &= sam_iou >= self.gate['min_pred_iou']
        if 'min_agreement' in self.gate:
            accept &= agreement >= self.gate['min_agreement']
        refined = torch.where(accept[:, None, None], sam_masks,
                              teacher_masks)
        outputs, start = [], 0
        for inst in instances:
            new = inst.clone()
            new.masks = refined[start:start + len(inst)]
            outputs.append(new)
            start += len(inst)
        stats = dict(
            instances=total,
            refined=int(accept.sum()),
            iou_teacher_refined=float(agreement.mean()),
            sam_pred_iou=float(sam_iou.mean()))
        return outputs, stats
