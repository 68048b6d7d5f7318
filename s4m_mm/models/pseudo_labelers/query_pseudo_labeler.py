# Copyright (c) s4m-mm authors. All rights reserved.
from typing import List, Tuple

import torch
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdet.registry import MODELS
from mmdet.structures import SampleList
from s4m_mm.models.utils.geometry import clear_padding_
from s4m_mm.models.utils.pseudo_labels import (select_pseudo_instances,
                                               upsample_logits)


@MODELS.register_module()
class QueryPseudoLabeler:
    """The paper's pseudo-labels of a Mask2Former teacher, read from its
    last decoder layer's queries (S4M code: ``mask2former/
    maskformer_model.py`` ``prepare_ssl_outputs``).

    Keeps the queries whose argmax class is not "no object" with softmax
    confidence above ``score_thr`` and whose sigmoid mask sum at 1/4
    resolution is above ``min_mask_sum`` (:func:`select_pseudo_instances`),
    binarised at 0.5 after upsampling to the batch input. The thresholds
    are the S4M wrapper's ``semi_train_cfg`` keys of :attr:`defaults`.
    """

    #: the ``semi_train_cfg`` thresholds it reads, with their defaults
    defaults = dict(score_thr=0.7, min_mask_sum=5.0)

    def check_teacher(self, teacher: nn.Module) -> None:
        """Refuse a teacher without Mask2Former's ``panoptic_head``."""
        if not hasattr(teacher, 'panoptic_head'):
            raise TypeError(
                'model.pseudo_labeler QueryPseudoLabeler reads the queries '
                "of a Mask2Former's panoptic_head; model.detector is a "
                f'{type(teacher).__name__}: set model.pseudo_labeler='
                "dict(type='PredictionPseudoLabeler') for any other mmdet "
                'instance segmentor')

    @staticmethod
    @torch.no_grad()
    def raw_outputs(teacher: nn.Module, batch_inputs: Tensor,
                    batch_data_samples: SampleList) -> Tuple[Tensor, Tensor]:
        """Last decoder layer of the teacher (put in eval mode): class
        logits ``(B, Q, K+1)`` and mask logits ``(B, Q, H/4, W/4)``."""
        teacher.eval()
        x = teacher.extract_feat(batch_inputs)
        cls_list, mask_list = teacher.panoptic_head(x, batch_data_samples)
        return cls_list[-1], mask_list[-1]

    @torch.no_grad()
    def __call__(self, teacher: nn.Module, batch_inputs: Tensor,
                 batch_data_samples: SampleList,
                 cfg: dict) -> List[InstanceData]:
        """The selected instances of each image: ``labels``, ``scores``,
        ``mask_logits (N, H/4, W/4)`` and ``masks (N, H, W)`` bool at the
        batch input size ``(H, W)`` (the padding is False)."""
        cls, mask_logits = self.raw_outputs(teacher, batch_inputs,
                                            batch_data_samples)
        H, W = batch_inputs.shape[-2:]
        instances = []
        for b, sample in enumerate(batch_data_samples):
            inst = select_pseudo_instances(cls[b], mask_logits[b],
                                           cfg['score_thr'],
                                           cfg['min_mask_sum'])
            inst.masks = clear_padding_(
                upsample_logits(inst.mask_logits, (H, W)) > 0,
                sample.img_shape)
            instances.append(inst)
        return instances
