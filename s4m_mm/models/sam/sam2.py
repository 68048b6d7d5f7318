# Copyright (c) s4m-mm authors. All rights reserved.
"""SAM 2 (the PyPI package ``sam2``, facebookresearch/sam2): Hiera image
encoders (tiny / small / base_plus / large, SAM 2.0 and 2.1) in front of
SAM 2's prompt encoder and mask decoder, used on single images as
``sam2.sam2_image_predictor.SAM2ImagePredictor`` does. The paper's SAM is
SAM 2.0 Hiera-L (``sam2_hiera_l.yaml`` + ``sam2_hiera_large.pt``)."""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdet.registry import MODELS
from .base import BaseSAMAdapter
from .embeddings import SAMEmbeddings

#: SAM 2's pixel mean / std (RGB, 0-1): ImageNet's (``SAM2Transforms``).
SAM2_PIXEL_MEAN = (0.485, 0.456, 0.406)
SAM2_PIXEL_STD = (0.229, 0.224, 0.225)

_SAM2_0_URL = 'https://dl.fbaipublicfiles.com/segment_anything_2/072824/'
_SAM2_1_URL = 'https://dl.fbaipublicfiles.com/segment_anything_2/092824/'
#: ``sam_type``: (Hydra config name inside the ``sam2`` package, official
#: checkpoint URL), as ``sam2/build_sam.py`` ``HF_MODEL_ID_TO_FILENAMES``
#: and the sam2 README.
SAM2_VARIANTS: Dict[str, Tuple[str, str]] = {
    'sam2_hiera_t': ('configs/sam2/sam2_hiera_t.yaml',
                     _SAM2_0_URL + 'sam2_hiera_tiny.pt'),
    'sam2_hiera_s': ('configs/sam2/sam2_hiera_s.yaml',
                     _SAM2_0_URL + 'sam2_hiera_small.pt'),
    'sam2_hiera_b+': ('configs/sam2/sam2_hiera_b+.yaml',
                      _SAM2_0_URL + 'sam2_hiera_base_plus.pt'),
    'sam2_hiera_l': ('configs/sam2/sam2_hiera_l.yaml',
                     _SAM2_0_URL + 'sam2_hiera_large.pt'),
    'sam2.1_hiera_t': ('configs/sam2.1/sam2.1_hiera_t.yaml',
                       _SAM2_1_URL + 'sam2.1_hiera_tiny.pt'),
    'sam2.1_hiera_s': ('configs/sam2.1/sam2.1_hiera_s.yaml',
                       _SAM2_1_URL + 'sam2.1_hiera_small.pt'),
    'sam2.1_hiera_b+': ('configs/sam2.1/sam2.1_hiera_b+.yaml',
                        _SAM2_1_URL + 'sam2.1_hiera_base_plus.pt'),
    'sam2.1_hiera_l': ('configs/sam2.1/sam2.1_hiera_l.yaml',
                       _SAM2_1_URL + 'sam2.1_hiera_large.pt'),
}


def build_sam2_model(sam_type: str, img_size: Optional[int] = None
                     ) -> nn.Module:
    """A randomly initialised ``SAM2Base`` from the ``sam2`` package's own
    config of ``sam_type``, on the CPU, in eval mode, without the
    single-mask stability fallback (``apply_postprocessing=False``, as the
    official S4M code builds it).

    Args:
        sam_type (str): a key of :data:`SAM2_VARIANTS`.
        img_size (int, optional): another input side than the config's
            1024 (a multiple of 64; tests only).
    """
    try:
        from sam2.build_sam import build_sam2
    except ImportError as err:
        raise ImportError(
            f'SAM2Adapter(sam_type={sam_type!r}) needs the PyPI package '
            'sam2==1.1.0: `SAM2_BUILD_CUDA=0 pip install --no-build-isolation'
            ' sam2==1.1.0` (docs/get_started.md, "CUDA ops")') from err
    overrides = []
    if img_size is not None:
        if img_size % 64 or img_size <= 0:
            raise ValueError(f'SAM2Adapter: img_size={img_size} must be a '
                             'positive multiple of 64')
        overrides.append(f'++model.image_size={img_size}')
    return build_sam2(
        SAM2_VARIANTS[sam_type][0],
        ckpt_path=None,
        device='cpu',
        mode='eval',
        hydra_overrides_extra=overrides,
        apply_postprocessing=False)


@MODELS.register_module()
class SAM2Adapter(BaseSAMAdapter):
    """A frozen SAM 2 on single images, as ``SAM2ImagePredictor``.

    SAM 2's input is the image resized to an ``S x S`` square (1024; no
    padding, aspect ratio not kept) and normalised with ImageNet's mean /
    std, so a ``512 x 1024`` crop gives a 64 x 64 grid of 8 x 16 px cells
    and prompts scale by ``(S / W, S / H)``. The image embedding is the
    lowest-resolution level of the Hiera + FPN backbone plus
    ``no_mem_embed``; the two higher-resolution levels, projected by the
    mask decoder's ``conv_s0`` / ``conv_s1``, travel with it
    (:attr:`SAMEmbeddings.high_res`) for the decoder's upsampling. Boxes
    are embedded as two corner points before the other points, with
    SAM 2's padding point, and each image's prompts are decoded in one
    call with ``repeat_image``. Masks are resized from 4h x 4w to the
    caller's size directly.

    Args:
        sam_type (str): ``'sam2_hiera_{t,s,b+,l}'`` (SAM 2.0) or
            ``'sam2.1_hiera_{t,s,b+,l}'`` (SAM 2.1), the names of their
            configs in the ``sam2`` package.
        checkpoint (str | None): the official checkpoint of that variant
            (e.g. ``sam2_hiera_large.pt``).
        img_size (int, optional): input side other than 1024. Only with
            ``random_init=True`` (tests).
        **kwargs: those of :class:`BaseSAMAdapter`.
    """
    SAM_TYPES = tuple(SAM2_VARIANTS)
    ARCH_OPTIONS = ('img_size', )
    #: ``SAM2Transforms`` resizes tensors with torchvision's ``Resize``,
    #: which antialiases
    RESIZE_ANTIALIAS = True

    def __init__(self,
                 sam_type: str = 'sam2_hiera_l',
                 checkpoint: Optional[str] = None,
                 img_size: Optional[int] = None,
                 **kwargs) -> None:
        super().__init__(sam_type, checkpoint, img_size=img_size, **kwargs)

    def _other_types_hint(self) -> str:
        return ("; SAM 1 ViTs are type='SAMAdapter', LiteMedSAM is "
                "type='LiteMedSAMAdapter'")

    def _build_sam(self, sam_type: str,
                   img_size: Optional[int] = None) -> nn.Module:
        return build_sam2_model(sam_type, img_size)

    def checkpoint_hint(self, sam_type: str) -> str:
        return (f'download the official {sam_type} weights '
                f'{SAM2_VARIANTS[sam_type][1]} to that path')

    @property
    def _prompt_encoder(self) -> nn.Module:
        return self.sam.sam_prompt_encoder

    @property
    def _mask_decoder(self) -> nn.Module:
        return self.sam.sam_mask_decoder

    # ------------------------------------------------------------------
    # frames: a square resize
    # ------------------------------------------------------------------
    def input_scale(self, img_shape: Sequence[int]) -> Tuple[float, float]:
        """``(S / W, S / H)``, as ``SAM2Transforms.transform_coords``."""
        return (self.img_size / int(img_shape[1]),
                self.img_size / int(img_shape[0]))

    def content_shape(self, img_shape: Sequence[int]) -> Tuple[int, int]:
        return self.img_size, self.img_size

    def _normalize(self, images: Tensor) -> Tensor:
        mean = images.new_tensor(SAM2_PIXEL_MEAN).view(1, 3, 1, 1)
        std = images.new_tensor(SAM2_PIXEL_STD).view(1, 3, 1, 1)
        return (images / 255. - mean) / std

    def _encode_batch(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """``SAM2ImagePredictor.set_image_batch`` after its transforms:
        ``forward_image``, ``_prepare_backbone_features``, ``no_mem_embed``
        on the lowest level; returns that level and the higher ones."""
        model = self.sam
        backbone_out = model.forward_image(inputs)
        _, feats, _, sizes = model._prepare_backbone_features(backbone_out)
        if model.directly_add_no_mem_embed:
            feats[-1] = feats[-1] + model.no_mem_embed
        batch = inputs.shape[0]
        maps = [
            feat.permute(1, 2, 0).reshape(batch, -1, *size)
            for feat, size in zip(feats, sizes)
        ]
        return (maps[-1], *maps[:-1])

    # ------------------------------------------------------------------
    # prompts and masks
    # ------------------------------------------------------------------
    def _encode_prompts(self, points: Optional[Tensor],
                        labels: Optional[Tensor],
                        boxes: Optional[Tensor]) -> Tensor:
        """As ``SAM2ImagePredictor._predict``: a box becomes two corner
        points (labels 2 and 3) before the points, and the prompt encoder
        is called with points only (so it appends its padding point)."""
        if boxes is not None:
            corners = boxes.reshape(-1, 2, 2)
            corner_labels = corners.new_tensor([[2., 3.]]).expand(
                corners.shape[0], -1)
            if points is None:
                points, labels = corners, corner_labels
            else:
                points = torch.cat([corners, points], dim=1)
                labels = torch.cat([corner_labels, labels.float()], dim=1)
        sparse, _ = self.sam.sam_prompt_encoder(
            points=(points, labels), boxes=None, masks=None)
        return sparse

    def _output_tokens(self) -> Tensor:
        decoder = self.sam.sam_mask_decoder
        tokens = [decoder.iou_token.weight, decoder.mask_tokens.weight]
        if decoder.pred_obj_scores:
            tokens.insert(0, decoder.obj_score_token.weight)
        return torch.cat(tokens)

    def _decode_image(self, embeddings: SAMEmbeddings, sparse: Tensor,
                      multimask_output: bool,
                      decoder: nn.Module) -> Tuple[Tensor, Tensor]:
        """``sam_mask_decoder`` with ``repeat_image=True`` and the image's
        high-resolution features, as ``SAM2ImagePredictor._predict``."""
        prompt_encoder = self.sam.sam_prompt_encoder
        dense = prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
        inputs = [embeddings.image, prompt_encoder.get_dense_pe(), sparse,
                  dense, *embeddings.high_res]
        dtype = self.decoder_input_dtype(decoder)
        if dtype is not None:
            inputs = [t.to(dtype) for t in inputs]
        image, image_pe, sparse, dense, *high_res = inputs
        masks, iou, _, _ = decoder(
            image_embeddings=image,
            image_pe=image_pe,
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense.expand(
                sparse.shape[0], -1, *self.embed_size),
            multimask_output=multimask_output,
            repeat_image=True,
            high_res_features=high_res)
        return masks, iou

    def postprocess_masks(self, masks: Tensor, img_shape: Sequence[int],
                          out_size: Sequence[int]) -> Tensor:
        """As ``SAM2Transforms.postprocess_masks`` without hole filling
        (the predictor's default): a bilinear resize to ``out_size``."""
        return F.interpolate(
            masks,
            tuple(int(s) for s in out_size),
            mode='bilinear',
            align_corners=False)
