# Copyright (c) s4m-mm authors. All rights reserved.
"""Masks of a SAM adapter: point and / or box prompts of many images
decoded image by image (``decoder_chunk`` prompts per decoder call) and
resampled to the caller's resolution."""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from .embeddings import SAMEmbeddings, shape_str


class SAMMaskPredictionMixin:
    """:meth:`predict_masks` and :meth:`predict_best_masks` of a SAM
    adapter.

    Reads the adapter's ``decoder_chunk``, the checks and prompt tokens of
    :class:`~.prompting.SAMPromptingMixin`, the decoder precision of
    :class:`~.precision.SAMPrecisionMixin`, :meth:`to_input_coords`,
    :meth:`_decode_image` and :meth:`postprocess_masks`.
    """

    def _check_mask_prompts(self, points: Optional[Tensor],
                            point_labels: Optional[Tensor],
                            boxes: Optional[Tensor]) -> int:
        """Validate the prompts of :meth:`predict_masks`; return ``N``."""
        name = f'{type(self).__name__}.predict_masks'
        if points is None and boxes is None:
            raise ValueError(f'{name}: give points and / or boxes, both are '
                             'None')
        num = None
        if points is not None:
            if points.dim() != 3 or points.shape[2] != 2:
                raise ValueError(f'{name}: points must be (N, K, 2) (x, y), '
                                 f'got {shape_str(points)}')
            if point_labels is None or \
                    point_labels.shape != points.shape[:2]:
                got = None if point_labels is None else shape_str(
                    point_labels)
                raise ValueError(
                    f'{name}: point_labels must be (N, K) = '
                    f'{tuple(points.shape[:2])} for points '
                    f'{shape_str(points)}, got {got}')
            num = points.shape[0]
        if boxes is not None:
            if boxes.dim() != 2 or boxes.shape[1] != 4:
                raise ValueError(f'{name}: boxes must be (N, 4) xyxy, got '
                                 f'{shape_str(boxes)}')
            if num is not None and boxes.shape[0] != num:
                raise ValueError(f'{name}: {num} point prompts but '
                                 f'{boxes.shape[0]} boxes')
            num = boxes.shape[0]
        return num

    def _decoded_parts(self, embeddings: SAMEmbeddings,
                       image_index: Optional[Tensor],
                       points: Optional[Tensor],
                       point_labels: Optional[Tensor],
                       boxes: Optional[Tensor], multimask_output: bool,
                       method: str):
        """Check the prompts and decode them image by image.

        Yields:
            tuple[Tensor, Tensor, Tensor]: per image and ``decoder_chunk``,
            the rows of its prompts ``(n,)``, their low-resolution logits
            ``(n, M, 4h, 4w)`` and IoU predictions ``(n, M)``, float32.
        """
        self._check_embeddings(embeddings, method)
        num = self._check_mask_prompts(points, point_labels, boxes)
        device = embeddings.device
        self._follow_device(device)
        img_shape = embeddings.img_shape
        index = self._resolve_image_index(embeddings, image_index, num,
                                          method)
        if points is not None:
            points = self.to_input_coords(
                points.to(device, torch.float32), img_shape)
            point_labels = point_labels.to(device, torch.float32)
        if boxes is not None:
            boxes = self.to_input_coords(
                boxes.to(device, torch.float32).view(-1, 2, 2),
                img_shape).view(-1, 4)
        for start in range(0, num, self.decoder_chunk):
            part = slice(start, start + self.decoder_chunk)
            sparse = self._sparse_prompts(
                None if points is None else points[part],
                None if points is None else point_labels[part],
                None if boxes is None else boxes[part])
            part_index = index[part]
            for image in torch.unique(part_index).tolist():
                rows = (part_index == image).nonzero().squeeze(1)
                with self._decoder_precision(device):
                    low_res, iou = self._decode_image(
                        embeddings[image], sparse[rows], multimask_output,
                        self._decoder_on(device))
                yield start + rows, low_res.float(), iou.float()

    @torch.no_grad()
    def predict_masks(
        self,
        embeddings: SAMEmbeddings,
        image_index: Optional[Tensor],
        points: Optional[Tensor] = None,
        point_labels: Optional[Tensor] = None,
        boxes: Optional[Tensor] = None,
        multimask_output: bool = True,
        out_size: Optional[Sequence[int]] = None,
    ) -> Tuple[Tensor, Tensor]:
        """Masks and predicted IoUs for prompts of many images at once.

        The prompts of each image go through the backend's mask decoder in
        one call (``decoder_chunk`` at most), so the result equals the
        backend's own predictor run image by image.

        Args:
            embeddings (SAMEmbeddings): from :meth:`embed_images`.
            image_index (Tensor, optional): ``(N,)`` long, the embedding of
                each prompt. ``None``: the embeddings must hold 1 image or
                ``N``.
            points (Tensor, optional): ``(N, K, 2)`` ``(x, y)`` in pixels of
                ``embeddings.img_shape``.
            point_labels (Tensor, optional): ``(N, K)``, 1 positive,
                0 negative, -1 padding (ignored by SAM); required with
                ``points``.
            boxes (Tensor, optional): ``(N, 4)`` ``(x1, y1, x2, y2)`` in
                the same pixels. Can be combined with ``points``.
            multimask_output (bool): three masks per prompt (SAM's
                ambiguity-aware outputs) instead of one.
            out_size (Sequence[int], optional): ``(H_out, W_out)`` of the
                returned masks; default ``embeddings.img_shape``.

        Returns:
            tuple[Tensor, Tensor]: mask logits ``(N, M, H_out, W_out)`` and
            IoU predictions ``(N, M)``, float32, ``M = 3`` with
            ``multimask_output`` else 1. A binary mask is ``logits > 0``.
        """
        self._check_embeddings(embeddings, 'predict_masks')
        img_shape = embeddings.img_shape
        out_size = img_shape if out_size is None else tuple(
            int(s) for s in out_size)
        num = self._check_mask_prompts(points, point_labels, boxes)
        num_out = 3 if multimask_output else 1
        device = embeddings.device
        masks = torch.zeros((num, num_out, *out_size), device=device)
        ious = torch.zeros((num, num_out), device=device)
        for rows, low_res, iou in self._decoded_parts(
                embeddings, image_index, points, point_labels, boxes,
                multimask_output, 'predict_masks'):
            masks[rows] = self.postprocess_masks(low_res, img_shape,
                                                 out_size)
            ious[rows] = iou
        return masks, ious

    @torch.no_grad()
    def predict_best_masks(
        self,
        embeddings: SAMEmbeddings,
        image_index: Optional[Tensor],
        points: Optional[Tensor] = None,
        point_labels: Optional[Tensor] = None,
        boxes: Optional[Tensor] = None,
        out_size: Optional[Sequence[int]] = None,
    ) -> Tuple[Tensor, Tensor]:
        """Of SAM's three candidates per prompt (``multimask_output``), the
        one with the highest predicted IoU: ``predict_masks(...,
        multimask_output=True)`` followed by the argmax, but only the chosen
        candidate is upsampled to ``out_size`` (a third of the resampling
        and of the memory).

        Args: as :meth:`predict_masks`, without ``multimask_output``.

        Returns:
            tuple[Tensor, Tensor]: mask logits ``(N, H_out, W_out)`` and
            their IoU predictions ``(N,)``, float32.
        """
        self._check_embeddings(embeddings, 'predict_best_masks')
        img_shape = embeddings.img_shape
        out_size = img_shape if out_size is None else tuple(
            int(s) for s in out_size)
        num = self._check_mask_prompts(points, point_labels, boxes)
        device = embeddings.device
        masks = torch.zeros((num, *out_size), device=device)
        ious = torch.zeros((num, ), device=device)
        for rows, low_res, iou in self._decoded_parts(
                embeddings, image_index, points, point_labels, boxes, True,
                'predict_best_masks'):
            best = iou.argmax(dim=1)
            pick = torch.arange(len(rows), device=device)
            chosen, best_iou = low_res[pick, best], iou[pick, best]
            masks[rows] = self.postprocess_masks(chosen[:, None], img_shape,
                                                 out_size)[:, 0]
            ious[rows] = best_iou
        return masks, ious
