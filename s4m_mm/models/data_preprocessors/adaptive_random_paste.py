# Copyright (c) s4m-mm authors. All rights reserved.
"""ARP (augmentation with refined pseudo-labels, the paper's adaptive
random paste) of S4M's unlabeled student batch, as an mmdet batch augment.

Inside this module an image is a ``(3, H, W)`` float tensor in the 0-255
range of the (padded, not yet normalised) batch input and the masks of an
image are an ``(N, H, W)`` bool tensor on the batch's device. The paste
geometry (cut, place, occlude, the record of a mix) is in
:mod:`.arp_geometry`.
"""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import BaseBoxes
from mmdet.structures.mask import BitmapMasks
from s4m_mm.models.utils.pseudo_labels import boxes_from_masks
from .arp_geometry import (ARPPaste, ARPRecord, CutGeometry, MaskType,
                           PastedInstance, masks_as_tensor, masks_like,
                           paste_pixels_, place_mask, remove_occluded_pixels)
from .base_batch_augment import (BaseBatchAugment, check_probability,
                                 check_range, valid_hw)

__all__ = [
    'AdaptiveRandomPaste', 'ARPPaste', 'ARPRecord', 'CutGeometry', 'MaskType',
    'PastedInstance', 'masks_as_tensor', 'masks_like', 'paste_pixels_',
    'place_mask', 'remove_occluded_pixels'
]

#: How the batch-size check names the offending value inside ``forward``.
UNLABELED_BATCH_KEY = 'the unlabeled batch size'

#: ``gt_instances`` fields that the mix recomputes instead of carrying.
GEOMETRY_FIELDS = ('masks', 'bboxes')


@MODELS.register_module()
class AdaptiveRandomPaste(BaseBatchAugment):
    """ARP of S4M: pseudo-labelled instances pasted between paired images
    of the unlabeled student batch, with occlusion.

    Called like mmdet's batch augments,
    ``inputs, data_samples = arp(inputs, data_samples)``, on the batch
    input before normalisation, with the (refined) pseudo-labels in each
    sample's ``gt_instances`` (``masks`` as ``BitmapMasks`` or an
    ``(N, H, W)`` tensor at the batch input's size, ``labels``, optionally
    ``bboxes`` and other per-instance fields such as ``scores``).

    Per pair of images:

    1. The batch indices are shuffled; ``max(1, B // 4)`` disjoint pairs
       ``(A, B)`` are formed (the first shuffled indices against the next
       ones). Each pair is mixed with probability ``prob``. Images outside
       the pairs are not pasted into.
    2. From A and from B the instances whose mask area is at least
       ``min_area * H * W / reference_area`` are cut, with the pixels of
       the input (S4M applies ARP before the strong photometric
       augmentation) and before anything is pasted into the pair.
    3. Without scale jitter an instance keeps its location in the batch
       input (as in the paper's code, even where that is padding of a
       receiver with a smaller ``img_shape``). With it, the
       instance's box is rescaled by ``s ~ U(lo, hi)`` (nearest, pixels and
       mask alike, as the paper's code), ``s`` clipped so that the box fits
       into the receiver's valid area (``img_shape``, else the batch
       input), cropped to the rescaled mask's box and put at a uniformly
       random offset where it fits entirely.
    4. A's instances are pasted into B and B's into A, in order, later
       ones over earlier ones. The receiver's instance list becomes
       ``[its own instances..., pasted instances...]``; each mask loses the
       pixels covered by any later mask, instances left empty are dropped
       with all their per-instance fields, and ``bboxes`` are recomputed
       from the masks. Other per-instance fields are carried as they are.

    Batches of 2 images or fewer are refused (see ``check_batch_size``).
    Each sample's metainfo gets ``arp_pasted`` (pasted instances that
    survived occlusion, 0 when nothing was pasted into the image) and
    ``arp_partner`` (the batch index of its pair partner, -1 if unpaired).
    The geometry of the last call is kept in ``last_mix``
    (:class:`ARPRecord`), so that
    :func:`s4m_mm.evaluation.replay_arp_masks` can apply the same pastes to
    other masks of the batch (e.g. ground truth, to measure the
    pseudo-labels the student trains on).

    Args:
        min_area (float): smallest mask area (pixels) that is pasted, at an
            input of ``reference_area`` pixels. Defaults to 3000.
        reference_area (float): the input area at which ``min_area``
            holds; the threshold scales with ``H * W / reference_area`` of
            the batch input. Defaults to ``1024 * 1024``.
        scale_jitter (tuple[float, float], optional): range of the random
            rescaling of pasted instances, e.g. ``(0.8, 1.2)`` (COCO).
            ``None`` (Cityscapes) pastes at the original location.
        prob (float): probability that a pair is mixed. Defaults to 1.
        generator_seed (int, optional): see :class:`BaseBatchAugment`.
    """

    #: the smallest unlabeled batch per GPU that ARP can pair
    min_batch_size = 3

    def __init__(self,
                 min_area: float = 3000.,
                 reference_area: float = 1024 * 1024,
                 scale_jitter: Optional[Tuple[float, float]] = None,
                 prob: float = 1.0,
                 generator_seed: Optional[int] = None) -> None:
        super().__init__(generator_seed)
        if min_area < 0:
            raise ValueError(f'min_area must be >= 0, got min_area='
                             f'{min_area!r}')
        if reference_area <= 0:
            raise ValueError('reference_area must be > 0, got '
                             f'reference_area={reference_area!r}')
        self.min_area = float(min_area)
        self.reference_area = float(reference_area)
        self.scale_jitter = None if scale_jitter is None else check_range(
            'scale_jitter', scale_jitter, 0.0, False)
        self.prob = check_probability('prob', prob)
        #: the ARP geometry of the last forward, for replay_arp_masks
        self.last_mix: Optional[ARPRecord] = None

    @classmethod
    def check_batch_size(cls,
                         batch_size: int,
                         key: str = 'train_dataloader.batch_size') -> None:
        """Refuse unlabeled batches of 2 images or fewer per GPU.

        ARP pairs images within the unlabeled batch, so a detector can call
        this at start-up with the configured unlabeled batch size.

        Args:
            batch_size (int): unlabeled images per GPU and iteration.
            key (str): how to name that value in the error.

        Raises:
            ValueError: if ``batch_size < min_batch_size`` (3).
        """
        if batch_size < cls.min_batch_size:
            raise ValueError(
                'AdaptiveRandomPaste (ARP) pairs the images of the unlabeled '
                'batch and needs more than 2 of them per GPU, but '
                f'{key} is {batch_size}. The unlabeled batch size per GPU '
                'is train_dataloader.batch_size times the unlabeled share '
                "of the sampler's source_ratio; raise it to at least 3.")

    def forward(
        self, inputs: Tensor, data_samples: List[DetDataSample]
    ) -> Tuple[Tensor, List[DetDataSample]]:
        """Mix pseudo-labelled instances between paired images.

        Args:
            inputs (Tensor): ``(B, 3, H, W)`` float batch input, 0-255, not
                normalised; it is not modified.
            data_samples (list[DetDataSample]): ``B`` samples with
                ``gt_instances`` (``masks`` at ``H x W`` and ``labels``);
                updated in place.

        Returns:
            tuple[Tensor, list[DetDataSample]]: the ``(B, 3, H, W)`` mixed
            batch and the samples.
        """
        self._check_inputs(inputs, data_samples)
        batch_size, _, height, width = inputs.shape
        self.check_batch_size(batch_size, UNLABELED_BATCH_KEY)
        min_area = self.min_area * height * width / self.reference_area

        outputs = inputs.clone()
        self.last_mix = ARPRecord(batch_size, (height, width), [])
        pasted = [0] * batch_size
        partners = [-1] * batch_size
        for first, second in self._draw_pairs(batch_size):
            partners[first], partners[second] = second, first
            if self._bernoulli(self.prob):
                pasted[first], pasted[second] = self._mix_pair(
                    inputs, outputs, data_samples, first, second, min_area)

        for index, data_sample in enumerate(data_samples):
            data_sample.set_metainfo(
                dict(arp_pasted=pasted[index], arp_partner=partners[index]))
        return outputs, data_samples

    # ----------------------------------------------------------- checks

    def _check_inputs(self, inputs: Tensor,
                      data_samples: List[DetDataSample]) -> None:
        """Check the batch layout and that every sample carries masks and
        labels at the batch input's size."""
        self.check_layout(inputs, data_samples)
        image_hw = tuple(inputs.shape[-2:])
        for index, data_sample in enumerate(data_samples):
            if 'gt_instances' not in data_sample:
                raise ValueError(f'data_samples[{index}] has no gt_instances '
                                 '(the pseudo-labels to mix)')
            gt_instances = data_sample.gt_instances
            for key in ('masks', 'labels'):
                if key not in gt_instances:
                    raise ValueError(f'data_samples[{index}].gt_instances has '
                                     f'no `{key}`; AdaptiveRandomPaste needs '
                                     'masks and labels')
            masks = gt_instances.masks
            if not isinstance(masks, (BitmapMasks, Tensor)):
                raise TypeError(f'data_samples[{index}].gt_instances.masks '
                                'must be BitmapMasks or an (N, H, W) tensor, '
                                f'got {type(masks).__name__}')
            shape = tuple(masks.masks.shape if isinstance(
                masks, BitmapMasks) else masks.shape)
            if len(shape) != 3 or shape[1:] != image_hw:
                raise ValueError(
                    f'data_samples[{index}].gt_instances.masks must be '
                    f'(N, {image_hw[0]}, {image_hw[1]}) like the batch '
                    f'input, got shape {shape}; pad masks to '
                    'the batch input (e.g. pad_mask=True) first')

    # ----------------------------------------------------- random draws

    def _draw_pairs(self, batch_size: int) -> List[Tuple[int, int]]:
        """``max(1, B // 4)`` disjoint random pairs of batch indices."""
        num_pairs = max(1, batch_size // 4)
        order = self._randperm(batch_size)
        return [(order[k], order[num_pairs + k]) for k in range(num_pairs)]

    # --------------------------------------------------------------- ARP

    def _mix_pair(self, inputs: Tensor, outputs: Tensor,
                  data_samples: List[DetDataSample], first: int, second: int,
                  min_area: float) -> Tuple[int, int]:
        """Paste ``first``'s instances into ``second`` and the other way
        round, both cut from the unmixed inputs.

        Returns:
            tuple[int, int]: pasted instances that survived in ``first``
            and in ``second``.
        """
        height, width = inputs.shape[-2:]
        masks_first, masks_second = (masks_as_tensor(
            data_samples[index].gt_instances.masks, inputs.device)
                                     for index in (first, second))
        to_second = self._cut_instances(
            inputs[first], masks_first, min_area,
            valid_hw(data_samples[second], height, width))
        to_first = self._cut_instances(
            inputs[second], masks_second, min_area,
            valid_hw(data_samples[first], height, width))
        # both pastes read the gt_instances of before the mix
        instances_first = data_samples[first].gt_instances
        instances_second = data_samples[second].gt_instances
        pasted_second = self._paste(outputs[second], data_samples[second],
                                    masks_second, instances_first, to_second)
        pasted_first = self._paste(outputs[first], data_samples[first],
                                   masks_first, instances_second, to_first)
        self.last_mix.pastes.extend(
            [ARPPaste.of(first, second, inst) for inst in to_second] +
            [ARPPaste.of(second, first, inst) for inst in to_first])
        return pasted_first, pasted_second

    def _cut_instances(self, image: Tensor, masks: Tensor, min_area: float,
                       receiver_hw: Tuple[int, int]) -> List[PastedInstance]:
        """Cut the instances of one image that are large enough to paste.

        Args:
            image (Tensor): ``(3, H, W)`` source pixels.
            masks (Tensor): ``(N, H, W)`` bool source masks.
            min_area (float): smallest area pasted (already scaled).
            receiver_hw (tuple[int, int]): valid area of the receiver, where
                scale-jittered instances are placed.

        Returns:
            list[PastedInstance]: in the source's instance order.
        """
        areas = masks.flatten(1).sum(dim=1)
        chosen = torch.nonzero((areas >= min_area) & (areas > 0)).flatten()
        boxes = boxes_from_masks(masks[chosen]).long().tolist()
        instances = []
        for index, (x1, y1, x2, y2) in zip(chosen.tolist(), boxes):
            pixels = image[:, y1:y2, x1:x2]
            mask = masks[index, y1:y2, x1:x2]
            cut = CutGeometry((x1, y1, x2, y2))
            if self.scale_jitter is None:
                instances.append(
                    PastedInstance(pixels, mask, y1, x1, index, cut))
                continue
            instance = self._rescale_and_place(pixels, mask, index,
                                               receiver_hw, cut)
            if instance is not None:
                instances.append(instance)
        return instances

    def _rescale_and_place(self, pixels: Tensor, mask: Tensor, index: int,
                           receiver_hw: Tuple[int, int],
                           cut: CutGeometry) -> Optional[PastedInstance]:
        """Rescale an instance box by ``s ~ U(*scale_jitter)`` (clipped to
        fit the receiver), crop it to its mask and draw its offset.

        Args:
            pixels (Tensor): ``(3, h, w)`` pixels of the instance's box.
            mask (Tensor): ``(h, w)`` bool mask in that box.
            index (int): the instance's index in the source.
            receiver_hw (tuple[int, int]): valid area of the receiver.
            cut (CutGeometry): the box the patch was cut from; the rescale
                and crop are added to it.

        Returns:
            PastedInstance | None: ``None`` when nearest resampling left no
            mask pixel.
        """
        box_h, box_w = mask.shape
        area_h, area_w = receiver_hw
        scale = min(self._uniform(*self.scale_jitter), area_h / box_h,
                    area_w / box_w)
        size = (min(area_h, max(1, round(box_h * scale))),
                min(area_w, max(1, round(box_w * scale))))
        pixels = F.interpolate(pixels[None], size=size, mode='nearest-exact')
        mask = F.interpolate(
            mask[None, None].float(), size=size, mode='nearest-exact') > 0.5
        x1, y1, x2, y2 = boxes_from_masks(mask[0]).long()[0].tolist()
        if x2 == 0:
            return None
        top = self._randint(area_h - (y2 - y1) + 1)
        left = self._randint(area_w - (x2 - x1) + 1)
        return PastedInstance(pixels[0, :, y1:y2, x1:x2],
                              mask[0, 0, y1:y2, x1:x2], top, left, index,
                              cut._replace(resized_hw=size,
                                           crop=(x1, y1, x2, y2)))

    def _paste(self, image: Tensor, receiver: DetDataSample,
               own_masks: Tensor, source: InstanceData,
               instances: List[PastedInstance]) -> int:
        """Paste instances into an image and rebuild its ``gt_instances``.

        Args:
            image (Tensor): ``(3, H, W)`` receiver pixels, changed in place.
            receiver (DetDataSample): its sample, updated in place.
            own_masks (Tensor): ``(N, H, W)`` bool, the receiver's masks
                before the paste.
            source (InstanceData): the ``gt_instances`` (before the mix)
                of the image the instances come from.
            instances (list[PastedInstance]): in pasting order.

        Returns:
            int: how many pasted instances are still visible.
        """
        if not instances:
            return 0
        for instance in instances:
            paste_pixels_(image, instance)
        image_hw = tuple(image.shape[-2:])
        pasted_masks = torch.stack(
            [place_mask(instance, image_hw) for instance in instances])
        visible = remove_occluded_pixels(torch.cat([own_masks,
                                                    pasted_masks]))
        keep = visible.flatten(1).any(dim=1)

        carried = self._carried_fields(
            receiver.gt_instances, source,
            [instance.index for instance in instances])
        kept = carried[keep.nonzero().flatten().cpu()]
        kept.masks = masks_like(visible[keep], receiver.gt_instances.masks)
        kept.bboxes = self._boxes_like(
            boxes_from_masks(visible[keep]),
            receiver.gt_instances.get('bboxes'))
        receiver.gt_instances = kept
        return int(keep[own_masks.shape[0]:].sum())

    @staticmethod
    def _carried_fields(receiver: InstanceData, source: InstanceData,
                        indices: List[int]) -> InstanceData:
        """The receiver's non-geometry per-instance fields followed by
        those of the pasted source instances (``len(own) + len(indices)``
        instances, with the receiver's metainfo)."""
        fields: List[Dict[str, object]] = [{
            key: value
            for key, value in instances.items() if key not in GEOMETRY_FIELDS
        } for instances in (receiver, source)]
        if set(fields[0]) != set(fields[1]):
            raise ValueError(
                'paired images have different gt_instances fields: '
                f'{sorted(fields[0])} (receiver) vs {sorted(fields[1])} '
                '(source); AdaptiveRandomPaste carries every per-instance '
                'field')
        own = InstanceData(**fields[0])
        pasted = InstanceData(**fields[1])[torch.as_tensor(
            indices, dtype=torch.long)]
        carried = InstanceData.cat([own, pasted])
        carried.set_metainfo(receiver.metainfo)
        return carried

    @staticmethod
    def _boxes_like(boxes: Tensor, template: Optional[Union[Tensor,
                                                            BaseBoxes]]
                    ) -> Union[Tensor, BaseBoxes]:
        """Give ``(N, 4)`` boxes the box type, dtype and device of the
        receiver's former ``bboxes`` (a float tensor if it had none)."""
        if template is None:
            return boxes
        if isinstance(template, BaseBoxes):
            return type(template)(
                boxes.to(device=template.device, dtype=template.dtype))
        return boxes.to(device=template.device, dtype=template.dtype)

    def extra_repr(self) -> str:
        return (f'min_area={self.min_area}, '
                f'reference_area={self.reference_area}, '
                f'scale_jitter={self.scale_jitter}, prob={self.prob}, '
                f'generator_seed={self.generator_seed}')
