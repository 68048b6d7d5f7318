# Copyright (c) s4m-mm authors. All rights reserved.
"""The one interface every frozen SAM backend gives the S4M modules.

- :meth:`BaseSAMAdapter.embed_images`: image embeddings of a batch
  (:class:`SAMEmbeddings`), one encoder pass per ``encoder_chunk`` images;
- :meth:`BaseSAMAdapter.point_features`: the image tokens after the last
  two-way block of the mask decoder for single positive point prompts
  (``F_SAM^p`` of structural distillation);
- :meth:`BaseSAMAdapter.predict_masks`: masks with predicted IoUs for point
  and / or box prompts of many images (pseudo-label refinement), at the
  caller's resolution;
- the geometry between the caller's frame and SAM's grid:
  :meth:`~BaseSAMAdapter.input_scale`, :meth:`~BaseSAMAdapter.cell_centres`,
  :meth:`~BaseSAMAdapter.valid_cells`.

A backend (SAM 1, LiteMedSAM, SAM 2) says how its model is built and
loaded, how an image becomes its input, how prompts are embedded and how one
image's prompts are decoded; the rest is here. The SAM is frozen and lives
outside the module tree: it is not in ``state_dict()`` nor ``parameters()``
(hence not in the optimizer nor in DDP's gradient buckets), not moved by a
parent's ``.to()`` / ``.half()``, and it stays in eval mode when a parent
calls ``.train()``. It follows the device of the tensors it is given.
"""
import copy
import hashlib
from abc import ABCMeta, abstractmethod
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s4m_mm.utils import resolve_asset_path, update_digest
from .checkpoints import load_sam_checkpoint
from .embed_cache import EmbeddingCache
from .embeddings import SAMEmbeddings
from .point_features import image_side, prompt_image_tokens
from .precision import (AUTOCAST_DTYPES, DECODER_DTYPES, autocast_disabled,
                        autocast_to, resolve_autocast_dtype)

#: Channels of the image embedding and of every prompt token.
PROMPT_EMBED_DIM = 256
#: Attribute holding the SAM outside ``nn.Module``'s registries.
_SAM_ATTR = '_frozen_sam'


def _shape_str(x: Tensor) -> str:
    return str(tuple(x.shape))


class BaseSAMAdapter(nn.Module, metaclass=ABCMeta):
    """A frozen SAM behind a batched, prompt-level API.

    Args:
        sam_type (str): the variant, one of the backend's ``SAM_TYPES``.
        checkpoint (str | None): its weights, a path or
            ``pkg://package/path``. A missing file is an error naming the
            path and where to get the weights.
        random_init (bool): ask explicitly for random weights (tests,
            benchmarks); then ``checkpoint`` must be ``None``.
        decoder_chunk (int): prompts per mask-decoder pass.
        encoder_chunk (int, optional): images per image-encoder pass;
            ``None`` encodes the whole batch at once.
        autocast_dtype (str, optional): ``'bfloat16'`` or ``'float16'``
            runs the image encoder and the decoder under autocast to that
            type on any device; outputs are float32 either way. ``None``
            leaves precision to the caller's autocast (e.g. AMP training).
            ``'auto'``: bfloat16 where the device computes it natively,
            float32 elsewhere (:func:`resolve_autocast_dtype`; emulated
            bfloat16 on an AVX2 CPU is an order of magnitude slower).
        decoder_dtype (str, optional): ``'bfloat16'`` runs the mask decoder
            on a bfloat16 copy of its weights with bfloat16 inputs, outside
            autocast; ``'auto'`` does so where the device computes bfloat16
            natively, and uses the decoder as built elsewhere. ``None``
            (default): the decoder runs under ``autocast_dtype``. Under CPU
            autocast the decoder's matmuls run in bfloat16 but its
            additions, norms and activations on the ``(N, h * w, 256)``
            image tokens stay float32, with a cast before every matmul; on
            2 CPU cores with native bfloat16 LiteMedSAM's decoder ran 1.35x
            faster on the copy, its masks as close to float32's
            (``tests/test_models/test_sam_decoder_dtype.py``). The encoder
            is not affected.
        embed_cache_size (int): keep the encoder outputs of the last this
            many distinct SAM inputs (:class:`EmbeddingCache`); 0 (default)
            disables it.
        **arch: architecture overrides of the backend (e.g. a smaller input
            for tests), only with ``random_init=True``: no checkpoint fits
            them.

    Attributes:
        img_size (int): ``S``, side of the square SAM input.
        embed_size (tuple[int, int]): ``(h, w)`` of the image embedding.
        embed_dim (int): channels of the image embedding (256).

    Coordinates: images given to :meth:`embed_images` are ``(B, 3, H, W)``;
    points ``(x, y)`` and boxes ``(x1, y1, x2, y2)`` are pixels of that
    ``H x W`` frame, mapped to SAM's input by :meth:`input_scale`.
    """

    #: the variants this backend builds
    SAM_TYPES: Tuple[str, ...] = ()
    #: what the ``**arch`` overrides may name
    ARCH_OPTIONS: Tuple[str, ...] = ()
    #: whether ``preprocess`` resizes with antialiasing
    RESIZE_ANTIALIAS = False

    def __init__(self,
                 sam_type: str,
                 checkpoint: Optional[str],
                 random_init: bool = False,
                 decoder_chunk: int = 256,
                 encoder_chunk: Optional[int] = None,
                 autocast_dtype: Optional[str] = None,
                 decoder_dtype: Optional[str] = None,
                 embed_cache_size: int = 0,
                 **arch) -> None:
        super().__init__()
        name = type(self).__name__
        if sam_type not in self.SAM_TYPES:
            raise ValueError(
                f'{name}: sam_type={sam_type!r} is not supported; valid '
                f'types are {list(self.SAM_TYPES)}'
                f'{self._other_types_hint()}')
        if autocast_dtype not in AUTOCAST_DTYPES:
            raise ValueError(
                f"{name}: autocast_dtype must be None, 'float16', "
                f"'bfloat16' or 'auto', got {autocast_dtype!r}")
        if decoder_dtype not in DECODER_DTYPES:
            raise ValueError(
                f'{name}: decoder_dtype must be one of '
                f'{list(DECODER_DTYPES)}, got {decoder_dtype!r}')
        if not isinstance(embed_cache_size, int) or embed_cache_size < 0:
            raise ValueError(f'{name}: embed_cache_size must be an int >= 0, '
                             f'got {embed_cache_size!r}')
        for key, value in dict(
                decoder_chunk=decoder_chunk,
                encoder_chunk=encoder_chunk).items():
            if value is None and key == 'encoder_chunk':
                continue
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f'{name}: {key}={value!r} must be a positive int')
        arch = {k: v for k, v in arch.items() if v is not None}
        unknown = sorted(set(arch) - set(self.ARCH_OPTIONS))
        if unknown:
            raise TypeError(f'{name}(sam_type={sam_type!r}): unexpected '
                            f'arguments {unknown}; the architecture '
                            f'overrides are {list(self.ARCH_OPTIONS)}')
        self._check_weights_options(sam_type, checkpoint, random_init, arch)
        # resolve the file first: a missing one fails before the build
        self.checkpoint = None if random_init else self._resolve_checkpoint(
            sam_type, checkpoint)
        sam = self._build_sam(sam_type, **arch)
        if self.checkpoint is not None:
            load_sam_checkpoint(sam, self.checkpoint, sam_type)
        sam.requires_grad_(False)
        # eval() after loading: TinyViT caches its attention biases in eval
        sam.eval()
        object.__setattr__(self, _SAM_ATTR, sam)

        self.sam_type = sam_type
        self.autocast_dtype = autocast_dtype
        self.decoder_dtype = decoder_dtype
        # (device, dtype, decoder copy): not a submodule, so never in a
        # state_dict, a checkpoint or the optimizer, as the SAM itself
        object.__setattr__(self, '_cast_decoder', None)
        self.decoder_chunk = decoder_chunk
        self.encoder_chunk = encoder_chunk
        self.img_size = int(self._prompt_encoder.input_image_size[0])
        self.embed_size = tuple(
            int(s) for s in self._prompt_encoder.image_embedding_size)
        self.embed_dim = PROMPT_EMBED_DIM
        self.embed_cache = EmbeddingCache(embed_cache_size) \
            if embed_cache_size else None

    # ------------------------------------------------------------------
    # what a backend provides
    # ------------------------------------------------------------------
    @abstractmethod
    def _build_sam(self, sam_type: str, **arch) -> nn.Module:
        """A randomly initialised model of ``sam_type``, whose
        ``state_dict`` keys are those of the official checkpoints."""

    @abstractmethod
    def checkpoint_hint(self, sam_type: str) -> str:
        """Where the weights of ``sam_type`` come from, for error
        messages."""

    @property
    @abstractmethod
    def _prompt_encoder(self) -> nn.Module:
        """The SAM's prompt encoder."""

    @property
    @abstractmethod
    def _mask_decoder(self) -> nn.Module:
        """The SAM's mask decoder (its ``transformer`` is two-way)."""

    @abstractmethod
    def input_scale(self, img_shape: Sequence[int]) -> Tuple[float, float]:
        """``(s_x, s_y)``: caller pixels of an ``(H, W)`` frame to SAM input
        pixels."""

    @abstractmethod
    def content_shape(self, img_shape: Sequence[int]) -> Tuple[int, int]:
        """``(h', w')`` of the image inside the ``S x S`` SAM input (the
        rest is padding)."""

    @abstractmethod
    def _normalize(self, images: Tensor) -> Tensor:
        """Normalise resized RGB 0-255 images ``(B, 3, h', w')``."""

    @abstractmethod
    def _encode_batch(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """``(b, 3, S, S)`` -> the image embedding ``(b, 256, h, w)`` and
        the backend's high-resolution features, under the adapter's
        autocast."""

    @abstractmethod
    def _encode_prompts(self, points: Optional[Tensor],
                        labels: Optional[Tensor],
                        boxes: Optional[Tensor]) -> Tensor:
        """Sparse prompt embeddings ``(n, T, 256)`` of points ``(n, K, 2)``
        with labels ``(n, K)`` and / or boxes ``(n, 4)`` in SAM input
        pixels, as the backend's own predictor embeds them."""

    @abstractmethod
    def _output_tokens(self) -> Tensor:
        """``(T_out, 256)`` the decoder's learned output tokens, in the
        order its ``predict_masks`` puts them before the prompts."""

    @abstractmethod
    def _decode_image(self, embeddings: SAMEmbeddings, sparse: Tensor,
                      multimask_output: bool,
                      decoder: nn.Module) -> Tuple[Tensor, Tensor]:
        """The backend's mask ``decoder`` (its own, or its copy in
        ``decoder_dtype``: cast every input to ``decoder_input_dtype``) on
        the prompts ``sparse (n, T, 256)`` of the one image of
        ``embeddings``.

        Returns:
            tuple[Tensor, Tensor]: low-resolution mask logits ``(n, M, 4h,
            4w)`` and IoU predictions ``(n, M)``.
        """

    @abstractmethod
    def postprocess_masks(self, masks: Tensor, img_shape: Sequence[int],
                          out_size: Sequence[int]) -> Tensor:
        """Low-resolution logits ``(n, M, 4h, 4w)`` of images of
        ``img_shape`` to ``(n, M, H_out, W_out)`` logits."""

    def _other_types_hint(self) -> str:
        """Appended to the error of an unknown ``sam_type``."""
        return ''

    # ------------------------------------------------------------------
    # construction and module plumbing
    # ------------------------------------------------------------------
    def _check_weights_options(self, sam_type: str,
                               checkpoint: Optional[str], random_init: bool,
                               arch: dict) -> None:
        name = type(self).__name__
        if random_init:
            if checkpoint is not None:
                raise ValueError(
                    f'{name}(sam_type={sam_type!r}): random_init=True and '
                    f'checkpoint={checkpoint!r} exclude each other; pass '
                    'checkpoint=None for random weights')
            return
        if arch:
            raise ValueError(
                f'{name}(sam_type={sam_type!r}): '
                f'{", ".join(f"{k}={v}" for k, v in arch.items())} change '
                'the architecture and are only allowed with random_init=True'
                ' (no checkpoint fits them)')
        if checkpoint is None:
            raise FileNotFoundError(
                f'{name}(sam_type={sam_type!r}): checkpoint is None. Pass '
                'the path of the SAM weights '
                f'({self.checkpoint_hint(sam_type)}), or random_init=True '
                'to ask for random weights explicitly')

    def _resolve_checkpoint(self, sam_type: str, checkpoint: str) -> str:
        try:
            return resolve_asset_path(checkpoint,
                                      f'SAM checkpoint ({sam_type})')
        except FileNotFoundError as err:
            hint = self.checkpoint_hint(sam_type)
            raise FileNotFoundError(
                f'{err}. {hint[:1].upper()}{hint[1:]}') from None

    @property
    def sam(self) -> nn.Module:
        """The frozen inner SAM."""
        return getattr(self, _SAM_ATTR)

    def train(self, mode: bool = True) -> 'BaseSAMAdapter':
        """Set the (empty) adapter's mode; the SAM always stays in eval."""
        super().train(mode)
        self.sam.eval()
        return self

    def __deepcopy__(self, memo: dict) -> 'BaseSAMAdapter':
        """Copies share the frozen SAM (and its embedding cache) instead of
        duplicating them (e.g. when a teacher is deep-copied from a student
        holding it)."""
        memo[id(self.sam)] = self.sam
        if self.embed_cache is not None:
            memo[id(self.embed_cache)] = self.embed_cache
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new

    def extra_repr(self) -> str:
        return (f'sam_type={self.sam_type!r}, checkpoint={self.checkpoint!r}'
                f', img_size={self.img_size}, embed_size={self.embed_size}')

    def _autocast(self, device: torch.device):
        return autocast_to(device, self.autocast_dtype)

    def decoder_dtype_on(self, device) -> Optional[torch.dtype]:
        """The type the mask decoder's weights and activations are cast
        to on ``device`` (``decoder_dtype``), or ``None``: the decoder as
        built, under the adapter's autocast."""
        name = resolve_autocast_dtype(torch.device(device),
                                      self.decoder_dtype)
        return None if name is None else getattr(torch, name)

    def _decoder_precision(self, device: torch.device):
        """The context of a decoder call: autocast off for a cast copy,
        else the adapter's autocast."""
        if self.decoder_dtype_on(device) is not None:
            return autocast_disabled(device)
        return self._autocast(device)

    def _decoder_on(self, device: torch.device) -> nn.Module:
        """The mask decoder a call on ``device`` runs: the backend's own,
        or its copy in ``decoder_dtype``, made once (the weights never
        change)."""
        dtype = self.decoder_dtype_on(device)
        if dtype is None:
            return self._mask_decoder
        key = (torch.device(device), dtype)
        if self._cast_decoder is None or self._cast_decoder[0] != key:
            copied = copy.deepcopy(self._mask_decoder).to(device, dtype)
            object.__setattr__(self, '_cast_decoder', (key, copied))
        return self._cast_decoder[1]

    @staticmethod
    def decoder_input_dtype(decoder: nn.Module) -> Optional[torch.dtype]:
        """The type to cast a decoder's inputs to: its weights' for a
        reduced-precision copy, ``None`` (inputs as they are) for the
        float32 decoder under autocast."""
        dtype = next(decoder.parameters()).dtype
        return None if dtype == torch.float32 else dtype

    def autocast_dtype_on(self, device) -> Optional[str]:
        """The autocast type SAM runs under on ``device`` (``'auto'``
        resolved)."""
        return resolve_autocast_dtype(torch.device(device),
                                      self.autocast_dtype)

    def _follow_device(self, device: torch.device) -> None:
        """Move the SAM to ``device`` if it is elsewhere."""
        if self._prompt_encoder.no_mask_embed.weight.device != device:
            self.sam.to(device)

    # ------------------------------------------------------------------
    # geometry
    # ------------------------------------------------------------------
    def to_input_coords(self, xy: Tensor, img_shape: Sequence[int]) -> Tensor:
        """``(..., 2)`` ``(x, y)`` caller pixels -> SAM input pixels."""
        scale_x, scale_y = self.input_scale(img_shape)
        return xy * xy.new_tensor([scale_x, scale_y])

    def cell_centres(self, img_shape: Sequence[int]) -> Tensor:
        """``(h * w, 2)`` float32 ``(x, y)`` of the centres of SAM's
        embedding cells in caller pixels of an ``(H, W)`` frame, row-major
        (as ``embedding.flatten(-2)``)."""
        h, w = self.embed_size
        ys = (torch.arange(h, dtype=torch.float32) + 0.5) * (self.img_size / h)
        xs = (torch.arange(w, dtype=torch.float32) + 0.5) * (self.img_size / w)
        yy, xx = torch.meshgrid(ys, xs, indexing='ij')
        scale_x, scale_y = self.input_scale(img_shape)
        return torch.stack(
            [xx.reshape(-1) / scale_x, yy.reshape(-1) / scale_y], dim=1)

    def valid_cells(self, img_shape: Sequence[int]) -> Tensor:
        """``(h * w,)`` bool: the cells whose centre lies in the image (not
        in SAM's padding)."""
        centres = self.cell_centres(img_shape)
        return (centres[:, 0] < int(img_shape[1])) & \
            (centres[:, 1] < int(img_shape[0]))

    # ------------------------------------------------------------------
    # images
    # ------------------------------------------------------------------
    @torch.no_grad()
    def preprocess(self, images: Tensor) -> Tensor:
        """SAM input of a batch of RGB images: resize (bilinear) to
        :meth:`content_shape`, normalise, pad bottom-right with zeros to
        ``S x S``.

        Args:
            images (Tensor): ``(B, 3, H, W)`` RGB in 0-255 (any real or
                integer dtype; integers are converted to float32).

        Returns:
            Tensor: ``(B, 3, S, S)``.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f'{type(self).__name__}.preprocess: images must '
                             f'be (B, 3, H, W) RGB, got {_shape_str(images)}')
        if not images.is_floating_point():
            images = images.float()
        new_h, new_w = self.content_shape(images.shape[-2:])
        if (new_h, new_w) != tuple(images.shape[-2:]):
            images = F.interpolate(
                images, (new_h, new_w),
                mode='bilinear',
                align_corners=False,
                antialias=self.RESIZE_ANTIALIAS)
        images = self._normalize(images)
        return F.pad(images,
                     (0, self.img_size - new_w, 0, self.img_size - new_h))

    @torch.no_grad()
    def embed_images(self, images: Tensor) -> SAMEmbeddings:
        """Image embeddings of a batch (one encoder pass per
        ``encoder_chunk`` images; through the embedding cache when it is
        on).

        Args:
            images (Tensor): ``(B, 3, H, W)`` RGB in 0-255.

        Returns:
            SAMEmbeddings: ``image`` ``(B, 256, h, w)`` float32, ``(h, w) =
            embed_size``, in the frame ``img_shape = (H, W)``.
        """
        self._follow_device(images.device)
        inputs = self.preprocess(images)
        img_shape = tuple(images.shape[-2:])
        if inputs.shape[0] == 0:
            outputs = self._encode(inputs[:0])
        elif self.embed_cache is None:
            outputs = self._encode(inputs)
        else:
            outputs = self.embed_cache.encode(inputs, self._encode)
        return SAMEmbeddings(outputs[0], img_shape, tuple(outputs[1:]))

    @torch.no_grad()
    def embed_image_list(self, images: Sequence[Tensor]) -> List[Tuple[
            Tensor, ...]]:
        """Encoder outputs of images of different sizes (e.g. the source
        images of a batch), in one encoder pass per ``encoder_chunk``.

        Args:
            images (Sequence[Tensor]): each ``(3, H_i, W_i)`` RGB 0-255.

        Returns:
            list[tuple[Tensor, ...]]: per image, the image embedding
            ``(256, h, w)`` and the high-resolution levels, float32, without
            the batch dim (``SAMEmbeddings(out[0][None], (H_i, W_i),
            tuple(t[None] for t in out[1:]))`` rebuilds the embeddings).
        """
        if not images:
            return []
        device = images[0].device
        self._follow_device(device)
        inputs = torch.cat([self.preprocess(img[None].to(device))
                            for img in images])
        outputs = self._encode(inputs)
        return [tuple(level[i] for level in outputs)
                for i in range(len(images))]

    def store_identity(self, device=None) -> dict:
        """What an embedding store keys this SAM by: the adapter, variant,
        input size, a digest of the exact weights (computed once) and the
        autocast type the encoder runs under on ``device`` (default: where
        the SAM's weights are; ``'auto'`` resolved, ``None`` for float32),
        so that an entry encoded in bfloat16 is stale for a float32 SAM and
        the other way round. It is the adapter's own ``autocast_dtype``: a
        caller's autocast (AMP training with ``autocast_dtype=None``) is not
        part of the key."""
        if getattr(self, '_weights_digest', None) is None:
            digest = hashlib.sha1()
            for name, tensor in sorted(self.sam.state_dict().items()):
                digest.update(name.encode())
                update_digest(digest, tensor)
            self._weights_digest = digest.hexdigest()
        if device is None:
            device = next(self.sam.parameters()).device
        return dict(adapter=type(self).__name__, sam_type=self.sam_type,
                    img_size=self.img_size, weights=self._weights_digest,
                    autocast=self.autocast_dtype_on(device))

    def _encode(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """``(B, 3, S, S)`` SAM inputs -> float32 encoder outputs."""
        if inputs.shape[0] == 0:
            # the shapes of an empty batch, from a one-image pass
            probe = self._encode(inputs.new_zeros((1, *inputs.shape[1:])))
            return tuple(out[:0] for out in probe)
        chunk = self.encoder_chunk or inputs.shape[0]
        with self._autocast(inputs.device):
            parts = [self._encode_batch(part) for part in inputs.split(chunk)]
        return tuple(
            torch.cat([part[level] for part in parts]).float()
            for level in range(len(parts[0])))

    # ------------------------------------------------------------------
    # prompts
    # ------------------------------------------------------------------
    def _check_embeddings(self, embeddings: SAMEmbeddings,
                          method: str) -> None:
        name = f'{type(self).__name__}.{method}'
        if not isinstance(embeddings, SAMEmbeddings):
            raise TypeError(f'{name}: embeddings must be the SAMEmbeddings '
                            'of embed_images, got '
                            f'{type(embeddings).__name__}')
        expected = (self.embed_dim, *self.embed_size)
        if tuple(embeddings.image.shape[1:]) != expected:
            raise ValueError(f'{name}: embeddings must be (B, '
                             f'{", ".join(map(str, expected))}), got '
                             f'{_shape_str(embeddings.image)}')

    def _resolve_image_index(self, embeddings: SAMEmbeddings,
                             image_index: Optional[Tensor], num: int,
                             method: str) -> Tensor:
        """``(N,)`` long index of the embedding each prompt uses."""
        name = f'{type(self).__name__}.{method}'
        num_images = len(embeddings)
        device = embeddings.device
        if image_index is None:
            if num_images == 1:
                return torch.zeros(num, dtype=torch.long, device=device)
            if num_images == num:
                return torch.arange(num, device=device)
            raise ValueError(
                f'{name}: image_index is None, so embeddings must hold 1 '
                f'image or one per prompt ({num}); got {num_images}')
        image_index = torch.as_tensor(image_index, device=device)
        if image_index.shape != (num, ) or image_index.is_floating_point():
            raise ValueError(
                f'{name}: image_index must be an integer tensor of shape '
                f'({num},), got {image_index.dtype} '
                f'{_shape_str(image_index)}')
        if num and (image_index.min() < 0 or image_index.max() >= num_images):
            raise ValueError(
                f'{name}: image_index values must be in [0, {num_images}), '
                f'got [{int(image_index.min())}, {int(image_index.max())}]')
        return image_index.long()

    def _sparse_prompts(self, points: Optional[Tensor],
                        labels: Optional[Tensor],
                        boxes: Optional[Tensor]) -> Tensor:
        """:meth:`_encode_prompts` in float32, outside autocast."""
        ref = points if points is not None else boxes
        with autocast_disabled(ref.device):
            return self._encode_prompts(points, labels, boxes)

    def _prompt_tokens(self, sparse: Tensor) -> Tensor:
        """``(n, T_out + T, 256)``: the decoder's output tokens followed by
        the prompt embeddings, the two-way transformer's token input."""
        output_tokens = self._output_tokens()
        return torch.cat([
            output_tokens.unsqueeze(0).expand(sparse.shape[0], -1, -1), sparse
        ],
                         dim=1)

    @torch.no_grad()
    def point_features(self,
                       embeddings: SAMEmbeddings,
                       points: Tensor,
                       image_index: Optional[Tensor] = None) -> Tensor:
        """Prompt-conditioned image tokens ``F_SAM^p`` of single positive
        point prompts: the image-token output of the last two-way attention
        block of the mask decoder's transformer (the official S4M code
        returns them from an edited ``TwoWayTransformer.forward``; here
        :func:`prompt_image_tokens` computes them, without a copy of the
        image embedding per prompt).

        Args:
            embeddings (SAMEmbeddings): from :meth:`embed_images`.
            points (Tensor): ``(N, 2)`` point ``(x, y)`` in pixels of
                ``embeddings.img_shape``.
            image_index (Tensor, optional): ``(N,)`` long, the embedding of
                each point. ``None``: the embeddings must hold 1 image or
                ``N``.

        Returns:
            Tensor: ``(N, h * w, 256)`` float32, row-major over ``(h, w)``.
        """
        name = type(self).__name__
        self._check_embeddings(embeddings, 'point_features')
        if points.dim() != 2 or points.shape[1] != 2:
            raise ValueError(f'{name}.point_features: points must be (N, 2) '
                             f'(x, y), got {_shape_str(points)}')
        device = embeddings.device
        self._follow_device(device)
        num = points.shape[0]
        index = self._resolve_image_index(embeddings, image_index, num,
                                          'point_features')
        h, w = self.embed_size
        if num == 0:
            return torch.zeros((0, h * w, self.embed_dim), device=device)
        coords = self.to_input_coords(
            points.to(device, torch.float32), embeddings.img_shape)[:, None]
        labels = torch.ones((num, 1), device=device)
        # the work shared by the prompts of an image, once per used image
        used, index = torch.unique(index, return_inverse=True)
        image_tokens, key_pe = self._image_tokens(embeddings.image[used])
        transformer = self._mask_decoder.transformer
        with self._autocast(device):
            side = image_side(transformer, image_tokens, key_pe)
        outputs = []
        for start in range(0, num, self.decoder_chunk):
            part = slice(start, start + self.decoder_chunk)
            tokens = self._prompt_tokens(
                self._sparse_prompts(coords[part], labels[part], None))
            with self._autocast(device):
                keys = prompt_image_tokens(transformer, side, index[part],
                                           tokens)
            outputs.append(keys.float())
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs)

    def _image_tokens(self, image: Tensor) -> Tuple[Tensor, Tensor]:
        """The transformer's image side without prompts: ``(b, h * w,
        256)`` tokens of the embeddings plus the dense (no-mask) prompt
        embedding, and their positional encoding ``(1, h * w, 256)``."""
        prompt_encoder = self._prompt_encoder
        dense = prompt_encoder.no_mask_embed.weight.reshape(1, 1, -1)
        tokens = image.flatten(2).transpose(1, 2) + dense
        key_pe = prompt_encoder.get_dense_pe().flatten(2).transpose(1, 2)
        return tokens, key_pe

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
                                 f'got {_shape_str(points)}')
            if point_labels is None or \
                    point_labels.shape != points.shape[:2]:
                got = None if point_labels is None else _shape_str(
                    point_labels)
                raise ValueError(
                    f'{name}: point_labels must be (N, K) = '
                    f'{tuple(points.shape[:2])} for points '
                    f'{_shape_str(points)}, got {got}')
            num = points.shape[0]
        if boxes is not None:
            if boxes.dim() != 2 or boxes.shape[1] != 4:
                raise ValueError(f'{name}: boxes must be (N, 4) xyxy, got '
                                 f'{_shape_str(boxes)}')
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
