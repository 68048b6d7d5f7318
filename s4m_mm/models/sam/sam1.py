# Copyright (c) s4m-mm authors. All rights reserved.
"""SAM 1 (``segment_anything``): ViT-H / ViT-L / ViT-B image encoders in
front of SAM's prompt encoder and mask decoder."""
from functools import partial
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdet.registry import MODELS
from .base import PROMPT_EMBED_DIM, BaseSAMAdapter
from .embeddings import SAMEmbeddings
from .shared_image_decoder import decode_on_one_image, supports_shared_image

#: SAM 1's pixel mean / std (RGB, 0-255).
SAM1_PIXEL_MEAN = (123.675, 116.28, 103.53)
SAM1_PIXEL_STD = (58.395, 57.12, 57.375)

#: Encoder hyper-parameters of the ViT variants (``build_sam.py``).
VIT_VARIANTS = {
    'vit_h':
    dict(
        embed_dim=1280,
        depth=32,
        num_heads=16,
        global_attn_indexes=(7, 15, 23, 31)),
    'vit_l':
    dict(
        embed_dim=1024,
        depth=24,
        num_heads=16,
        global_attn_indexes=(5, 11, 17, 23)),
    'vit_b':
    dict(
        embed_dim=768,
        depth=12,
        num_heads=12,
        global_attn_indexes=(2, 5, 8, 11)),
}
#: Official checkpoints (https://github.com/facebookresearch/segment-anything).
SAM1_CHECKPOINT_URLS = {
    'vit_h':
    'https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth',
    'vit_l':
    'https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth',
    'vit_b':
    'https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth',
}
VIT_IMG_SIZE = 1024
VIT_PATCH_SIZE = 16


class SAMModel(nn.Module):
    """The three parts of a SAM 1, with no forward of its own: the adapter
    runs them (batched over images and prompts). This container only gives
    them the key prefixes of SAM checkpoints (``image_encoder.*``,
    ``prompt_encoder.*``, ``mask_decoder.*``).

    Args:
        image_encoder (nn.Module): ``(B, 3, S, S)`` -> ``(B, 256, h, w)``.
        prompt_encoder (nn.Module): ``segment_anything`` PromptEncoder.
        mask_decoder (nn.Module): ``segment_anything`` MaskDecoder.
    """

    def __init__(self, image_encoder: nn.Module, prompt_encoder: nn.Module,
                 mask_decoder: nn.Module) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder


def reduced_global_attn_indexes(indexes: Sequence[int],
                                depth: int) -> Tuple[int, ...]:
    """Global-attention blocks of a ViT encoder cut to ``depth`` blocks.

    The blocks kept from ``indexes`` are those before the last one; the last
    block is always global, as in every SAM variant.
    """
    kept = tuple(i for i in indexes if i < depth - 1)
    return kept + (depth - 1, )


def build_prompt_and_mask_decoder(
        embedding_size: Tuple[int, int],
        img_size: int) -> Tuple[nn.Module, nn.Module]:
    """SAM 1's prompt encoder and mask decoder (identical for all its
    variants and LiteMedSAM).

    Args:
        embedding_size (tuple[int, int]): ``(h, w)`` of the image embedding.
        img_size (int): side ``S`` of the square (padded) encoder input.
    """
    from segment_anything.modeling import (MaskDecoder, PromptEncoder,
                                           TwoWayTransformer)
    prompt_encoder = PromptEncoder(
        embed_dim=PROMPT_EMBED_DIM,
        image_embedding_size=embedding_size,
        input_image_size=(img_size, img_size),
        mask_in_chans=16)
    mask_decoder = MaskDecoder(
        num_multimask_outputs=3,
        transformer=TwoWayTransformer(
            depth=2, embedding_dim=PROMPT_EMBED_DIM, mlp_dim=2048,
            num_heads=8),
        transformer_dim=PROMPT_EMBED_DIM,
        iou_head_depth=3,
        iou_head_hidden_dim=256)
    return prompt_encoder, mask_decoder


def build_vit_sam(sam_type: str,
                  img_size: int = VIT_IMG_SIZE,
                  encoder_depth: Optional[int] = None) -> SAMModel:
    """A randomly initialised ``vit_h`` / ``vit_l`` / ``vit_b`` SAM.

    Args:
        sam_type (str): one of :data:`VIT_VARIANTS`.
        img_size (int): encoder input side ``S``, a multiple of 16; the
            embedding grid is ``S / 16`` square. 1024 for the real models.
        encoder_depth (int, optional): number of encoder blocks; ``None``
            keeps the variant's depth.
    """
    from segment_anything.modeling import ImageEncoderViT
    cfg = VIT_VARIANTS[sam_type]
    depth = cfg['depth'] if encoder_depth is None else encoder_depth
    if img_size % VIT_PATCH_SIZE or img_size <= 0:
        raise ValueError(f'SAMAdapter: img_size={img_size} must be a positive '
                         f'multiple of {VIT_PATCH_SIZE} for {sam_type}')
    if depth < 1:
        raise ValueError(
            f'SAMAdapter: encoder_depth={encoder_depth} must be >= 1')
    grid = img_size // VIT_PATCH_SIZE
    image_encoder = ImageEncoderViT(
        depth=depth,
        embed_dim=cfg['embed_dim'],
        img_size=img_size,
        mlp_ratio=4,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
        num_heads=cfg['num_heads'],
        patch_size=VIT_PATCH_SIZE,
        qkv_bias=True,
        use_rel_pos=True,
        global_attn_indexes=reduced_global_attn_indexes(
            cfg['global_attn_indexes'], depth),
        window_size=14,
        out_chans=PROMPT_EMBED_DIM)
    prompt_encoder, mask_decoder = build_prompt_and_mask_decoder((grid, grid),
                                                                 img_size)
    return SAMModel(image_encoder, prompt_encoder, mask_decoder)


@MODELS.register_module()
class SAMAdapter(BaseSAMAdapter):
    """A frozen SAM 1 (``segment_anything``): ``vit_h``, ``vit_l`` or
    ``vit_b``.

    SAM 1's input is the image resized so that its longest side is ``S``
    (1024) and padded bottom-right, normalised with SAM's mean / std, so
    prompts are scaled by ``S / max(H, W)`` along both axes; its masks are
    cropped to the unpadded region and resized to the caller's size, as
    ``segment_anything``'s ``SamPredictor``.

    Args:
        sam_type (str): ``'vit_h'``, ``'vit_l'`` or ``'vit_b'``.
        checkpoint (str | None): the official checkpoint file, e.g.
            ``sam_vit_h_4b8939.pth``.
        img_size (int, optional): encoder input side ``S`` (multiple of 16,
            embedding grid ``S / 16``). Only with ``random_init=True``.
        encoder_depth (int, optional): number of ViT encoder blocks. Only
            with ``random_init=True``.
        **kwargs: those of :class:`BaseSAMAdapter`.
    """
    SAM_TYPES = tuple(VIT_VARIANTS)
    ARCH_OPTIONS = ('img_size', 'encoder_depth')
    #: decode the prompts of an image without N copies of its embedding
    #: (:mod:`.shared_image_decoder`; the same outputs). False: the
    #: decoder's own forward, for comparison.
    shared_image_decoder = True

    def __init__(self,
                 sam_type: str = 'vit_h',
                 checkpoint: Optional[str] = None,
                 img_size: Optional[int] = None,
                 encoder_depth: Optional[int] = None,
                 **kwargs) -> None:
        super().__init__(
            sam_type,
            checkpoint,
            img_size=img_size,
            encoder_depth=encoder_depth,
            **kwargs)

    def _other_types_hint(self) -> str:
        return ("; LiteMedSAM is type='LiteMedSAMAdapter', SAM 2 is "
                "type='SAM2Adapter'")

    def _build_sam(self, sam_type: str, img_size: int = VIT_IMG_SIZE,
                   encoder_depth: Optional[int] = None) -> nn.Module:
        return build_vit_sam(sam_type, img_size, encoder_depth)

    def checkpoint_hint(self, sam_type: str) -> str:
        return (f'download the official SAM 1 {sam_type} weights '
                f'{SAM1_CHECKPOINT_URLS[sam_type]} to that path')

    @property
    def _prompt_encoder(self) -> nn.Module:
        return self.sam.prompt_encoder

    @property
    def _mask_decoder(self) -> nn.Module:
        return self.sam.mask_decoder

    # ------------------------------------------------------------------
    # frames: the longest side to S, padded bottom-right
    # ------------------------------------------------------------------
    def input_scale(self, img_shape: Sequence[int]) -> Tuple[float, float]:
        scale = self.img_size / max(int(img_shape[0]), int(img_shape[1]))
        return scale, scale

    def content_shape(self, img_shape: Sequence[int]) -> Tuple[int, int]:
        """Rounded as ``segment_anything``'s ``ResizeLongestSide``."""
        scale, _ = self.input_scale(img_shape)
        return (int(img_shape[0] * scale + 0.5),
                int(img_shape[1] * scale + 0.5))

    def _normalize(self, images: Tensor) -> Tensor:
        mean = images.new_tensor(SAM1_PIXEL_MEAN).view(1, 3, 1, 1)
        std = images.new_tensor(SAM1_PIXEL_STD).view(1, 3, 1, 1)
        return (images - mean) / std

    def _encode_batch(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        return (self.sam.image_encoder(inputs), )

    # ------------------------------------------------------------------
    # prompts and masks
    # ------------------------------------------------------------------
    def _encode_prompts(self, points: Optional[Tensor],
                        labels: Optional[Tensor],
                        boxes: Optional[Tensor]) -> Tensor:
        """Points without a box get SAM's padding point, as in
        ``SamPredictor`` (``PromptEncoder`` with ``pad=True``)."""
        sparse, _ = self.sam.prompt_encoder(
            points=None if points is None else (points, labels),
            boxes=boxes,
            masks=None)
        return sparse

    def _output_tokens(self) -> Tensor:
        decoder = self.sam.mask_decoder
        return torch.cat(
            [decoder.iou_token.weight, decoder.mask_tokens.weight])

    def _decode_image(self, embeddings: SAMEmbeddings, sparse: Tensor,
                      multimask_output: bool,
                      decoder: nn.Module) -> Tuple[Tensor, Tensor]:
        """``segment_anything``'s ``MaskDecoder.forward``; for its own
        decoder class without repeating the image embedding for the prompts
        (:func:`decode_on_one_image`, the same outputs)."""
        prompt_encoder = self.sam.prompt_encoder
        dense = prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
        image, image_pe = embeddings.image, prompt_encoder.get_dense_pe()
        dtype = self.decoder_input_dtype(decoder)
        if dtype is not None:
            image, image_pe, sparse, dense = (
                t.to(dtype) for t in (image, image_pe, sparse, dense))
        if self.shared_image_decoder and supports_shared_image(decoder):
            return decode_on_one_image(decoder, image, image_pe, sparse,
                                       dense, multimask_output)
        return decoder(
            image_embeddings=image,
            image_pe=image_pe,
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense.expand(
                sparse.shape[0], -1, *self.embed_size),
            multimask_output=multimask_output)

    def postprocess_masks(self, masks: Tensor, img_shape: Sequence[int],
                          out_size: Sequence[int]) -> Tensor:
        """As ``segment_anything``'s ``Sam.postprocess_masks``: upsample to
        ``S x S``, crop the unpadded :meth:`content_shape` region, resize
        to ``out_size``."""
        new_h, new_w = self.content_shape(img_shape)
        masks = F.interpolate(
            masks, (self.img_size, self.img_size),
            mode='bilinear',
            align_corners=False)
        masks = masks[..., :new_h, :new_w]
        return F.interpolate(
            masks,
            tuple(int(s) for s in out_size),
            mode='bilinear',
            align_corners=False)
