# Copyright (c) s4m-mm authors. All rights reserved.
from typing import Dict, Optional

from torch import Tensor

from mmdet.models.detectors import Mask2Former
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import ConfigType
from s4m_mm.models.sam.predictor import FRAMES, SAMPredictor
from s4m_mm.models.utils.pixels import denormalize, pixel_options


@MODELS.register_module()
class SAMDistillMask2Former(Mask2Former):
    """Stage 1 of S4M: a Mask2Former teacher trained with SAM structural
    distillation.

    In training, query points are sampled from the GT of each image, a frozen
    SAM computes ``C_SAM`` on the same augmented batch the model sees (under
    ``no_grad``), and the head adds L_SD. SAM is never used at inference and
    is absent from the checkpoint, which therefore loads into a stock
    :class:`Mask2Former` with a :class:`Mask2FormerHead`.

    SAM and what it keeps between steps belong to one
    :class:`SAMPredictor` (``self.predictor``). Where SAM runs
    (``sd_frame``): ``'view'`` (the paper) encodes every augmented batch;
    ``'source'`` encodes each labeled image once in its source frame (a
    :class:`SourceFrameEncoder` with its store), prompts each query point
    mapped there, and reads its feature map at the view's SAM cells mapped
    there too (:func:`sam_similarity_targets_in_source`).

    Args:
        sam (dict): config of the frozen SAM (``SAM2Adapter``,
            ``SAMAdapter`` or ``LiteMedSAMAdapter``).
        sd_chunk (int): prompts per SAM decoder call when computing targets.
        sd_frame (str): ``'view'`` (default) or ``'source'``.
        sd_store (dict, optional): the ``SAMEmbeddingStore`` of
            ``sd_frame='source'``; default 1 GiB in memory.
        source_loader (dict, optional): decoding options of the source
            images (``sd_frame='source'``), as the pipeline's
            ``LoadImageFromFile``.
        sd_bank (dict, optional): with ``sd_frame='source'``, read the
            targets from an :class:`SDTargetBank` (``stride``, ``store``,
            ``chunk``) computed once per labeled image instead of prompting
            SAM at every step.
        *args, **kwargs: those of :class:`Mask2Former`; ``panoptic_head``
            must be a :class:`SAMDistillMask2FormerHead`.
    """

    def __init__(self,
                 *args,
                 sam: ConfigType,
                 sd_chunk: int = 64,
                 sd_frame: str = 'view',
                 sd_store: Optional[dict] = None,
                 source_loader: Optional[dict] = None,
                 sd_bank: Optional[dict] = None,
                 **kwargs):
        if sd_frame not in FRAMES:
            raise ValueError(f'sd_frame must be one of {FRAMES}, got '
                             f'{sd_frame!r}')
        if sd_frame == 'view' and (sd_store is not None
                                   or source_loader is not None
                                   or sd_bank is not None):
            raise ValueError("sd_store / source_loader / sd_bank are "
                             "options of sd_frame='source'; got "
                             "sd_frame='view'")
        super().__init__(*args, **kwargs)
        if not hasattr(self.panoptic_head, 'sample_sd_points'):
            raise TypeError(
                'SAMDistillMask2Former needs panoptic_head.type='
                f'SAMDistillMask2FormerHead, got '
                f'{type(self.panoptic_head).__name__}')
        self.sd_chunk = sd_chunk
        #: the frozen SAM with its source frame, store and SD bank
        self.predictor = SAMPredictor(
            sam, sd_frame, store=sd_store, source_loader=source_loader,
            sd_bank=sd_bank, owner='model.sd_frame')

    @property
    def sd_frame(self) -> str:
        """Where SAM runs for L_SD, ``'view'`` or ``'source'``."""
        return self.predictor.frame

    def input_rgb(self, batch_inputs: Tensor) -> Tensor:
        """Undo the data preprocessor's normalisation: ``(B, 3, H, W)`` RGB
        in 0-255, the pixels the model was given."""
        return denormalize(batch_inputs,
                           **pixel_options(self.data_preprocessor))

    def sam_targets(self, batch_inputs: Tensor,
                    batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Points and ``C_SAM`` for L_SD (no gradient)."""
        points = self.panoptic_head.sample_sd_points(batch_data_samples,
                                                     batch_inputs.device)
        c_sam, grid_xy, valid = self.predictor.sd_targets(
            self.input_rgb(batch_inputs), batch_data_samples, points,
            self.sd_chunk)
        return dict(points=points, c_sam=c_sam, grid_xy=grid_xy, valid=valid)

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        x = self.extract_feat(batch_inputs)
        targets = self.sam_targets(batch_inputs, batch_data_samples)
        return self.panoptic_head.loss(
            x, batch_data_samples, sd_targets=targets)
