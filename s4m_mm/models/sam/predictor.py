# Copyright (c) s4m-mm authors. All rights reserved.
"""One owner for a frozen SAM and what it keeps between calls.

:class:`SAMPredictor` holds the adapter (a :class:`BaseSAMAdapter`), the
source frame with its embedding store (a :class:`SourceFrameEncoder`,
when SAM runs in the images' source frame) and the bank of SD targets
(an :class:`SDTargetBank`), in the spirit of sam2's
``SAM2ImagePredictor``, which holds the model, its transforms and the
cached features. The refiner of stage 2 and the SD teacher of stage 1
call it with images, samples and prompts and never hand the SAM itself
to anything.
"""
from typing import List, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import ConfigType
from s4m_mm.models.utils.sd_target_bank import SDTargetBank
from s4m_mm.models.utils.structural_distill import (
    sam_similarity_targets, sam_similarity_targets_in_source)
from .embeddings import SAMEmbeddings
from .source_frame import SourceFrameEncoder

#: where SAM encodes the images
FRAMES = ('view', 'source')


class SAMPredictor(nn.Module):
    """A frozen SAM with its source frame, embedding store and SD bank.

    ``frame='view'`` encodes whatever images it is given (the paper);
    ``frame='source'`` encodes each image once in its source frame (the
    decoded file behind a view) and serves the stored embeddings to every
    later view of it. The predictor holds no parameter and no buffer: it
    adds nothing to its owner's ``state_dict``.

    Args:
        sam (dict | BaseSAMAdapter): config of the adapter
            (``SAM2Adapter``, ``SAMAdapter`` or ``LiteMedSAMAdapter``), or
            a built one to share with another predictor.
        frame (str): ``'view'`` (default) or ``'source'``.
        store (dict, optional): the ``SAMEmbeddingStore`` of the source
            frame; default 1 GiB in memory.
        source_loader (dict, optional): decoding options of the source
            images, as the pipeline's ``LoadImageFromFile``.
        sd_bank (dict, optional): ``stride``, ``store`` and ``chunk`` of an
            :class:`SDTargetBank` (source frame only).
        owner (str): the config key that chose the frame, named in errors
            (e.g. ``'model.refiner.frame'``).

    Attributes:
        adapter (BaseSAMAdapter): the SAM.
        source (SourceFrameEncoder | None): the source frame.
        bank (SDTargetBank | None): the SD targets computed once per image.
        device (str | None): where SAM runs; ``None``: on the device of the
            tensors it is given.
    """

    def __init__(self,
                 sam: Union[ConfigType, nn.Module],
                 frame: str = 'view',
                 store: Optional[dict] = None,
                 source_loader: Optional[dict] = None,
                 sd_bank: Optional[dict] = None,
                 owner: str = 'frame') -> None:
        super().__init__()
        if frame not in FRAMES:
            raise ValueError(f'{owner} must be one of {FRAMES}, got '
                             f'{frame!r}')
        if frame == 'view' and (store is not None or source_loader is not None
                                or sd_bank is not None):
            raise ValueError(
                f"store / source_loader / sd_bank are options of {owner}="
                f"'source'; got {owner}='view'")
        self.adapter = sam if isinstance(sam, nn.Module) else \
            MODELS.build(sam)
        self.frame = frame
        self.device: Optional[str] = None
        self.source = SourceFrameEncoder(
            self.adapter, store, source_loader,
            owner=owner) if frame == 'source' else None
        self.bank = None if sd_bank is None else SDTargetBank(
            self.adapter, self.source, **sd_bank)

    @property
    def store(self):
        """The source frame's ``SAMEmbeddingStore``, or ``None``."""
        return None if self.source is None else self.source.store

    def run_device(self, default: torch.device) -> torch.device:
        """Where SAM runs: :attr:`device`, or ``default`` when unset."""
        return torch.device(self.device) if self.device else default

    # ------------------------------------------------------------------
    # encoding
    # ------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, images: Tensor) -> SAMEmbeddings:
        """SAM embeddings of ``(B, 3, H, W)`` RGB 0-255 images (their own
        frame), on :attr:`device` when set."""
        if self.device is not None:
            images = images.to(self.device)
        return self.adapter.embed_images(images)

    @torch.no_grad()
    def source_embeddings(self, data_samples: SampleList,
                          device: torch.device) -> List[SAMEmbeddings]:
        """One stored source-frame embedding (batch of 1, frame
        ``ori_shape``) per view; see :meth:`SourceFrameEncoder.embeddings`.
        """
        return self.source.embeddings(data_samples, device)

    # ------------------------------------------------------------------
    # masks
    # ------------------------------------------------------------------
    def predict_best_masks(self, embeddings: SAMEmbeddings,
                           image_index: Optional[Tensor], **kwargs
                           ) -> Tuple[Tensor, Tensor]:
        """Logits and predicted IoU of SAM's best candidate per prompt; see
        :meth:`BaseSAMAdapter.predict_best_masks`."""
        return self.adapter.predict_best_masks(embeddings, image_index,
                                               **kwargs)

    # ------------------------------------------------------------------
    # structural distillation targets
    # ------------------------------------------------------------------
    @torch.no_grad()
    def sd_targets(self, images: Tensor, data_samples: SampleList,
                   points: Tensor, chunk: int = 64
                   ) -> Tuple[Tensor, Tensor, Tensor]:
        """``C_SAM`` of the query points of a batch of views.

        Args:
            images (Tensor): ``(B, 3, H, W)`` RGB 0-255 views, the pixels
                the model was given (the source frame uses only their size).
            data_samples (list[DetDataSample]): the views' samples (the
                source frame reads their ``img_path``, ``ori_shape`` and
                ``homography_matrix``).
            points (Tensor): ``(B, P, 2)`` query points, view pixels.
            chunk (int): prompts per decoder call.

        Returns:
            tuple[Tensor, Tensor, Tensor]: ``c_sam (B, P, J)``, ``grid_xy
            (J, 2)`` and ``valid (J, )``, as
            :func:`sam_similarity_targets` returns them.
        """
        input_hw = images.shape[-2:]
        if self.source is None:
            return sam_similarity_targets(self.adapter, images, points, chunk)
        if self.bank is not None:
            return self.bank.targets(data_samples, points, input_hw)
        to_source = [
            self.source.to_source(self.source.meta(s)) for s in data_samples
        ]
        return sam_similarity_targets_in_source(
            self.adapter, self.source.embeddings(data_samples, images.device),
            to_source, points, input_hw, chunk)

    def extra_repr(self) -> str:
        bank = '' if self.bank is None else \
            f', sd_bank_stride={self.bank.stride}'
        return f'frame={self.frame!r}{bank}'
