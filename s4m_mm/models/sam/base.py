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
image's prompts are decoded; the rest is here, one concern a file: the
build, checkpoint and module plumbing in this file, the precision in
:mod:`.precision`, SAM's input frame in :mod:`.frame`, the encoder in
:mod:`.encoding`, prompts and point features in :mod:`.prompting`, masks in
:mod:`.mask_prediction`. The SAM is frozen and lives
outside the module tree: it is not in ``state_dict()`` nor ``parameters()``
(hence not in the optimizer nor in DDP's gradient buckets), not moved by a
parent's ``.to()`` / ``.half()``, and it stays in eval mode when a parent
calls ``.train()``. It follows the device of the tensors it is given.
"""
import copy
from abc import ABCMeta, abstractmethod
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from s4m_mm.utils import resolve_asset_path
from .checkpoints import load_sam_checkpoint
from .embed_cache import EmbeddingCache
from .embeddings import SAMEmbeddings
from .encoding import SAMEncodingMixin
from .frame import SAMFrameMixin
from .mask_prediction import SAMMaskPredictionMixin
from .precision import AUTOCAST_DTYPES, DECODER_DTYPES, SAMPrecisionMixin
from .prompting import SAMPromptingMixin

#: Channels of the image embedding and of every prompt token.
PROMPT_EMBED_DIM = 256
#: Attribute holding the SAM outside ``nn.Module``'s registries.
_SAM_ATTR = '_frozen_sam'


class BaseSAMAdapter(SAMPrecisionMixin, SAMFrameMixin, SAMEncodingMixin,
                     SAMPromptingMixin, SAMMaskPredictionMixin, nn.Module,
                     metaclass=ABCMeta):
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
            (``tests/test_models/test_sam/test_sam_decoder_dtype.py``).
            The encoder is not affected.
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

    def _follow_device(self, device: torch.device) -> None:
        """Move the SAM to ``device`` if it is elsewhere."""
        if self._prompt_encoder.no_mask_embed.weight.device != device:
            self.sam.to(device)
