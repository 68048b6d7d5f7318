# Copyright (c) s4m-mm authors. All rights reserved.
from numbers import Number
from typing import List, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdet.registry import MODELS
from mmdet.structures import SampleList
from s4m_mm.models.utils.geometry import clear_padding_


def fit_masks(masks: Tensor, size: Sequence[int]) -> Tensor:
    """``(N, h, w)`` bool masks padded with False (or cropped) to ``(N, H,
    W)``: a detector's masks of the un-padded input (Mask R-CNN) or of its
    padded feature grid (RTMDet-Ins) in the batch input's frame."""
    H, W = int(size[0]), int(size[1])
    masks = masks[:, :H, :W]
    h, w = masks.shape[-2:]
    if (h, w) == (H, W):
        return masks
    return F.pad(masks, (0, W - w, 0, H - h), value=False)


def score_thresholds(score_thr: Union[float, Sequence[float]],
                     labels: Tensor) -> Tensor:
    """The score threshold of each instance ``(N,)`` from one threshold or
    one per class (indexed by ``labels``).

    Raises:
        ValueError: naming ``semi_train_cfg.score_thr`` when a label has no
            threshold in the per-class list.
    """
    if isinstance(score_thr, Number):
        return torch.full(labels.shape, float(score_thr),
                          device=labels.device)
    thr = torch.tensor([float(t) for t in score_thr], device=labels.device)
    if len(labels) and int(labels.max()) >= len(thr):
        raise ValueError(
            f'semi_train_cfg.score_thr has {len(thr)} per-class thresholds, '
            f'but the teacher predicted class {int(labels.max())}; give one '
            'threshold per class of the detector (or one float)')
    return thr[labels]


@MODELS.register_module()
class PredictionPseudoLabeler:
    """Pseudo-labels of any mmdet instance segmentor (Mask R-CNN,
    RTMDet-Ins, ...) from its own ``predict`` on the weak view.

    The teacher (in eval mode) predicts with ``rescale=False``, i.e. in the
    batch input's frame, after its own ``test_cfg`` (NMS, ``max_per_img``,
    ``mask_thr_binary``). Then, as the paper's selection on a Mask2Former's
    queries, S4M keeps the instances with score above ``score_thr`` (one
    float, or one per class) whose binary mask has more than
    ``min_mask_area`` pixels (the paper's sigmoid sum of 5 at stride 4 is
    about 80 pixels at the input). The thresholds are the S4M wrapper's
    ``semi_train_cfg`` keys of :attr:`defaults`.

    The instances carry no mask logits (a detector's ``predict`` gives
    binary masks): SAM's point prompts are drawn from the masks
    (``SAMPseudoLabelRefiner(point_sampling='in_mask')``).
    """

    #: the ``semi_train_cfg`` thresholds it reads, with their defaults
    defaults = dict(score_thr=0.7, min_mask_area=80)

    def check_teacher(self, teacher: nn.Module) -> None:
        """Refuse a teacher that is not an mmdet instance segmentor with a
        ``predict`` (or one read from its queries, Mask2Former)."""
        if hasattr(teacher, 'panoptic_head'):
            raise TypeError(
                'model.pseudo_labeler PredictionPseudoLabeler got a '
                f'{type(teacher).__name__}, whose predict fuses its queries '
                "(not the paper's selection); use model.pseudo_labeler="
                "dict(type='QueryPseudoLabeler') for Mask2Former")
        if not callable(getattr(teacher, 'predict', None)):
            raise TypeError(
                'model.pseudo_labeler PredictionPseudoLabeler needs a '
                f'detector with predict(), got {type(teacher).__name__}')

    @torch.no_grad()
    def __call__(self, teacher: nn.Module, batch_inputs: Tensor,
                 batch_data_samples: SampleList,
                 cfg: dict) -> List[InstanceData]:
        """The selected instances of each image: ``labels``, ``scores``,
        ``bboxes (N, 4)`` (the detector's, input pixels) and ``masks (N, H,
        W)`` bool at the batch input size ``(H, W)`` (the padding is
        False). The samples get no ``pred_instances``.

        Raises:
            TypeError: when the detector's masks are not bool (a negative
                ``mask_thr_binary`` in its ``test_cfg``).
        """
        teacher.eval()
        H, W = batch_inputs.shape[-2:]
        results = teacher.predict(batch_inputs, batch_data_samples,
                                  rescale=False)
        instances = []
        for sample in results:
            pred = sample.pred_instances
            del sample.pred_instances
            if pred.masks.dtype != torch.bool:
                raise TypeError(
                    f'{type(teacher).__name__}.predict gave {pred.masks.dtype}'
                    ' masks; S4M needs binary ones (a mask_thr_binary >= 0 '
                    "in the detector's test_cfg)")
            masks = clear_padding_(fit_masks(pred.masks, (H, W)).clone(),
                                   sample.img_shape)
            keep = pred.scores > score_thresholds(cfg['score_thr'],
                                                  pred.labels)
            keep &= masks.flatten(1).sum(dim=1) > cfg['min_mask_area']
            instances.append(
                InstanceData(
                    labels=pred.labels[keep],
                    scores=pred.scores[keep],
                    bboxes=pred.bboxes[keep],
                    masks=masks[keep]))
        return instances
