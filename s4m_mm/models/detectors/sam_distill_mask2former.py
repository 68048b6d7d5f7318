# Copyright (c) s4m-mm authors. All rights reserved.
from typing import Dict

from torch import Tensor

from mmdet.models.detectors import Mask2Former
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import ConfigType
from s4m_mm.models.utils.structural_distill import sam_similarity_targets


@MODELS.register_module()
class SAMDistillMask2Former(Mask2Former):
    """Stage 1 of S4M: a Mask2Former teacher trained with SAM structural
    distillation.

    In training, query points are sampled from the GT of each image, a frozen
    SAM computes ``C_SAM`` on the same augmented batch the model sees (under
    ``no_grad``), and the head adds L_SD. SAM is never used at inference and
    is absent from the checkpoint, which therefore loads into a stock
    :class:`Mask2Former` with a :class:`Mask2FormerHead`.

    Args:
        sam (dict): config of the frozen SAM (``SAM2Adapter``,
            ``SAMAdapter`` or ``LiteMedSAMAdapter``).
        sd_chunk (int): prompts per SAM decoder call when computing targets.
        *args, **kwargs: those of :class:`Mask2Former`; ``panoptic_head``
            must be a :class:`SAMDistillMask2FormerHead`.
    """

    def __init__(self, *args, sam: ConfigType, sd_chunk: int = 64, **kwargs):
        super().__init__(*args, **kwargs)
        if not hasattr(self.panoptic_head, 'sample_sd_points'):
            raise TypeError(
                'SAMDistillMask2Former needs panoptic_head.type='
                f'SAMDistillMask2FormerHead, got '
                f'{type(self.panoptic_head).__name__}')
        self.sam = MODELS.build(sam)
        self.sd_chunk = sd_chunk

    def input_rgb(self, batch_inputs: Tensor) -> Tensor:
        """Undo the data preprocessor's normalisation: ``(B, 3, H, W)`` RGB
        in 0-255, the pixels the model was given."""
        pre = self.data_preprocessor
        images = batch_inputs * pre.std + pre.mean if pre._enable_normalize \
            else batch_inputs
        return images if pre._channel_conversion else images.flip(1)

    def sam_targets(self, batch_inputs: Tensor,
                    batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Points and ``C_SAM`` for L_SD (no gradient)."""
        points = self.panoptic_head.sample_sd_points(batch_data_samples,
                                                     batch_inputs.device)
        c_sam, grid_xy, valid = sam_similarity_targets(
            self.sam, self.input_rgb(batch_inputs), points, self.sd_chunk)
        return dict(points=points, c_sam=c_sam, grid_xy=grid_xy, valid=valid)

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        x = self.extract_feat(batch_inputs)
        targets = self.sam_targets(batch_inputs, batch_data_samples)
        return self.panoptic_head.loss(
            x, batch_data_samples, sd_targets=targets)
