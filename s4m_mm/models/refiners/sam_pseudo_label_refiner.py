# Copyright (c) s4m-mm authors. All rights reserved.
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdet.registry import MODELS
from mmdet.structures import SampleList
from s4m_mm.models.sam import SAMEmbeddings
from s4m_mm.models.sam.predictor import FRAMES, SAMPredictor
from s4m_mm.models.utils.geometry import (transform_boxes, transform_points,
                                          warp_logits)
from s4m_mm.models.utils.pseudo_labels import (POINT_SAMPLING,
                                               boxes_from_masks, mask_iou,
                                               sample_prompt_points)

PROMPT_MODES = ('points', 'box', 'box+points')


@MODELS.register_module()
class SAMPseudoLabelRefiner(nn.Module):
    """Refine the teacher's pseudo-masks with a frozen SAM (S4M, stage 2).

    For every kept instance, K points are drawn without replacement from its
    mask logits, or from its binary mask for a teacher without logits (see
    :func:`sample_prompt_points`), scaled to input pixels,
    and given to SAM as one prompt of K positive points with
    ``multimask_output=True``; the candidate with the highest predicted IoU,
    thresholded at SAM's logit 0, replaces the pseudo-mask. The class stays.
    All instances of the batch go through one decoder call (the adapter
    chunks it) after one encoder pass per image. SAM and its store belong
    to one :class:`SAMPredictor` (``self.predictor``; its ``device`` says
    where SAM runs, set by :class:`PseudoLabelRefineHook`).

    Where SAM runs (``frame``):

    - ``'view'`` (the paper): SAM encodes the teacher's view (the batch
      input, padding included) every iteration and decodes there;
    - ``'source'``: SAM encodes each image once in its source frame (the
      decoded file, before the geometric augmentation) and keeps the
      result in a :class:`SAMEmbeddingStore` (``store``); every view maps
      its prompts into that frame with the inverse of its
      ``homography_matrix`` (source -> view, recorded by mmdet's
      transforms), decodes there, and the chosen candidate's logits are
      warped back into the view (bilinear, then ``> 0``; outside the view's
      ``img_shape`` is False). A missed image is read from its
      ``img_path`` with ``source_loader`` (the options of the pipeline's
      ``LoadImageFromFile``), so a warm store costs no image decoding.

    Beyond the paper (off by default):

    - ``prompt='box'`` or ``'box+points'``: a box from the pseudo-mask, alone
      or with the points;
    - ``gate``: keep the teacher's mask when SAM's predicted IoU is below
      ``gate['min_pred_iou']`` or its IoU with the teacher's mask is below
      ``gate['min_agreement']``.

    Args:
        sam (dict): config of the frozen SAM (``SAM2Adapter``,
            ``SAMAdapter`` or ``LiteMedSAMAdapter``), or a built adapter
            to share (see :class:`SAMPredictor`).
        prompt (str): ``'points'`` (paper), ``'box'`` or ``'box+points'``.
        num_points (int): K. Defaults to 3.
        point_sampling (str): ``'logits'`` (paper code) or
            ``'soft_in_mask'`` (paper text), from a Mask2Former teacher's
            mask logits; ``'in_mask'``, uniform in the binary mask, for
            teachers read by their ``predict`` (Mask R-CNN, RTMDet-Ins).
        gate (dict, optional): ``min_pred_iou`` and / or ``min_agreement``.
        frame (str): ``'view'`` (default) or ``'source'``.
        store (dict, optional): the :class:`SAMEmbeddingStore` of
            ``frame='source'`` (``memory_bytes``, ``disk_dir``, ``dtype``);
            default: 1 GiB in memory.
        source_loader (dict, optional): ``backend_args``, ``color_type``
            ['color'] and ``imdecode_backend`` ['cv2'] of the source images,
            as the unlabeled pipeline's ``LoadImageFromFile``.
    """

    def __init__(self,
                 sam: dict,
                 prompt: str = 'points',
                 num_points: int = 3,
                 point_sampling: str = 'logits',
                 gate: Optional[dict] = None,
                 frame: str = 'view',
                 store: Optional[dict] = None,
                 source_loader: Optional[dict] = None):
        super().__init__()
        if frame not in FRAMES:
            raise ValueError(f'refiner frame must be one of {FRAMES}, got '
                             f'{frame!r}')
        if frame == 'view' and (store is not None or
                                source_loader is not None):
            raise ValueError("refiner store / source_loader are options of "
                             "frame='source'; got frame='view'")
        if prompt not in PROMPT_MODES:
            raise ValueError(f'refiner prompt must be one of {PROMPT_MODES}, '
                             f'got {prompt!r}')
        if point_sampling not in POINT_SAMPLING:
            raise ValueError(f'refiner point_sampling must be one of '
                             f'{POINT_SAMPLING}, got {point_sampling!r}')
        if num_points < 1 and prompt != 'box':
            raise ValueError(f'num_points must be >= 1, got {num_points}')
        gate = dict(gate or {})
        unknown = set(gate) - {'min_pred_iou', 'min_agreement'}
        if unknown:
            raise ValueError(f'unknown gate keys {sorted(unknown)}; use '
                             'min_pred_iou and / or min_agreement')
        self.prompt = prompt
        self.num_points = num_points
        self.point_sampling = point_sampling
        self.gate = gate
        #: the frozen SAM with its source frame and store
        self.predictor = SAMPredictor(
            sam, frame, store=store, source_loader=source_loader,
            owner='model.refiner.frame')

    @property
    def frame(self) -> str:
        """Where SAM runs, ``'view'`` or ``'source'`` (its predictor's)."""
        return self.predictor.frame

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
            logits = self.point_source(instances)
            h, w = logits.shape[-2:]
            xy, labels = sample_prompt_points(logits, self.num_points,
                                              self.point_sampling, generator)
            out['points'] = xy * xy.new_tensor([W / w, H / h])
            out['point_labels'] = labels
        if self.prompt in ('box', 'box+points'):
            masks = torch.cat([inst.masks for inst in instances])
            out['boxes'] = boxes_from_masks(masks)
        return out

    def point_source(self, instances: List[InstanceData]) -> Tensor:
        """What the points are drawn from, all instances of the batch: the
        ``masks (N, H, W)`` for ``point_sampling='in_mask'``, else the
        ``mask_logits (N, h, w)`` (a Mask2Former teacher's).

        Raises:
            ValueError: naming ``model.refiner.point_sampling`` when the
                instances have no ``mask_logits`` (a detector's predict).
        """
        if self.point_sampling == 'in_mask':
            return torch.cat([inst.masks for inst in instances])
        if not all('mask_logits' in inst for inst in instances):
            raise ValueError(
                f'model.refiner.point_sampling={self.point_sampling!r} '
                "draws points from the teacher's mask logits, which this "
                "teacher's pseudo-labels do not have (a detector's predict "
                "gives binary masks); use point_sampling='in_mask'")
        return torch.cat([inst.mask_logits for inst in instances])

    @staticmethod
    def device_of(instances: List[InstanceData]) -> torch.device:
        for inst in instances:
            return inst.masks.device
        return torch.device('cpu')

    @torch.no_grad()
    def forward(self,
                images: Tensor,
                instances: List[InstanceData],
                generator: Optional[torch.Generator] = None,
                data_samples: Optional[SampleList] = None
                ) -> Tuple[List[InstanceData], Dict[str, float]]:
        """Refine the pseudo-masks of a batch. ``frame='view'``: one encoder
        pass for the batch (:meth:`embed`), then one decoder call for all
        instances (:meth:`refine_embedded`); ``frame='source'``:
        :meth:`refine_in_source_frame`.

        Args:
            images (Tensor): ``(B, 3, H, W)`` RGB 0-255, the teacher's view.
            instances (list[InstanceData]): per image, ``masks (N, H, W)``
                bool in the input frame and ``mask_logits (N, h, w)``.
            data_samples (list[DetDataSample], optional): the view's
                samples; ``frame='source'`` needs their ``img_path``,
                ``ori_shape``, ``homography_matrix`` and ``img_shape``.

        Returns:
            tuple: the refined instances (new objects; ``masks`` replaced,
            everything else kept) and statistics: ``instances``,
            ``refined`` (masks replaced), ``iou_teacher_refined`` (mean IoU
            of the teacher's and SAM's masks) and ``sam_pred_iou``; in the
            source frame also ``store_hits`` / ``store_misses`` (images).
        """
        if sum(len(inst) for inst in instances) == 0:
            return [inst.clone() for inst in instances], dict(
                instances=0, refined=0)
        if self.frame == 'source':
            return self.refine_in_source_frame(instances, data_samples,
                                               tuple(images.shape[-2:]),
                                               generator)
        return self.refine_embedded(self.embed(images), instances, generator)

    @torch.no_grad()
    def embed(self, images: Tensor) -> SAMEmbeddings:
        """SAM image embeddings of ``(B, 3, H, W)`` RGB 0-255 images, on
        SAM's device (:meth:`SAMPredictor.embed`)."""
        return self.predictor.embed(images)

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
        if sum(len(inst) for inst in instances) == 0:
            return [inst.clone() for inst in instances], dict(
                instances=0, refined=0)
        prompts = self.prompts(instances, (H, W), generator)
        prompts = {k: v.to(embeddings.device) for k, v in prompts.items()}
        # multimask, the candidate of highest predicted IoU
        logits, sam_iou = self.predictor.predict_best_masks(
            embeddings,
            prompts['image_index'],
            points=prompts.get('points'),
            point_labels=prompts.get('point_labels'),
            boxes=prompts.get('boxes'),
            out_size=(H, W))
        return self.replace_masks(instances, logits > 0, sam_iou)

    def replace_masks(self, instances: List[InstanceData], sam_masks: Tensor,
                      sam_iou: Tensor
                      ) -> Tuple[List[InstanceData], Dict[str, float]]:
        """Put SAM's masks ``(N, H, W)`` bool (all instances of the batch,
        in order) in place of the teacher's where the gate accepts them."""
        out_device = self.device_of(instances)
        sam_masks, sam_iou = sam_masks.to(out_device), sam_iou.to(out_device)
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
            instances=len(teacher_masks),
            refined=int(accept.sum()),
            iou_teacher_refined=float(agreement.mean()),
            sam_pred_iou=float(sam_iou.mean()))
        return outputs, stats

    # ------------------------------------------------------------------
    # the source frame
    # ------------------------------------------------------------------
    @staticmethod
    def prompts_to_source(prompts: Dict, rows: Tensor, to_source) -> Dict:
        """The prompts ``rows`` of one image, mapped by the homography
        ``to_source`` (view -> source)."""
        out = {}
        if 'points' in prompts:
            out['points'] = transform_points(prompts['points'][rows],
                                             to_source)
            out['point_labels'] = prompts['point_labels'][rows]
        if 'boxes' in prompts:
            out['boxes'] = transform_boxes(prompts['boxes'][rows], to_source)
        return out

    @torch.no_grad()
    def refine_in_source_frame(self,
                               instances: List[InstanceData],
                               data_samples: Optional[SampleList],
                               input_hw: Sequence[int],
                               generator: Optional[torch.Generator] = None
                               ) -> Tuple[List[InstanceData], Dict[str,
                                                                   float]]:
        """Refinement with SAM in each image's source frame (see the class
        docstring): prompts drawn in the view (as :meth:`prompts`), mapped
        to the source, decoded on the stored source embedding, the chosen
        logits warped back to the ``input_hw`` view."""
        if data_samples is None or len(data_samples) != len(instances):
            raise ValueError(
                "refiner frame='source' needs the view's data_samples, one "
                f'per image ({len(instances)}), got '
                f'{None if data_samples is None else len(data_samples)}')
        if sum(len(inst) for inst in instances) == 0:
            return [inst.clone() for inst in instances], dict(
                instances=0, refined=0)
        H, W = (int(s) for s in input_hw)
        prompts = self.prompts(instances, (H, W), generator)
        predictor, source = self.predictor, self.predictor.source
        device = predictor.run_device(self.device_of(instances))
        prompts = {k: v.to(device) for k, v in prompts.items()}
        embeddings = predictor.source_embeddings(data_samples, device)
        total = len(prompts['image_index'])
        sam_masks = torch.zeros((total, H, W), dtype=torch.bool,
                                device=device)
        sam_iou = torch.zeros((total, ), device=device)
        for b, (sample, emb) in enumerate(zip(data_samples, embeddings)):
            rows = (prompts['image_index'] == b).nonzero().squeeze(1)
            if len(rows) == 0:
                continue
            meta = source.meta(sample)
            to_view = source.to_view(meta)
            in_source = self.prompts_to_source(prompts, rows,
                                               source.to_source(meta))
            logits, iou = predictor.predict_best_masks(
                emb, None, out_size=emb.img_shape, **in_source)
            masks = warp_logits(logits, to_view, (H, W)) > 0
            h, w = meta['img_shape'][:2]
            masks[:, h:, :] = False
            masks[:, :, w:] = False
            sam_masks[rows] = masks
            sam_iou[rows] = iou
        outputs, stats = self.replace_masks(instances, sam_masks, sam_iou)
        stats.update(store_hits=len(data_samples) - source.misses,
                     store_misses=source.misses)
        return outputs, stats
