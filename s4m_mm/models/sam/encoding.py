# Copyright (c) s4m-mm authors. All rights reserved.
"""The image encoder of a SAM adapter: embeddings of a batch or of a list
of images of different sizes, and the identity an embedding store keys
them by."""
import hashlib
from typing import List, Sequence, Tuple

import torch
from torch import Tensor

from s4m_mm.utils import update_digest
from .embeddings import SAMEmbeddings


class SAMEncodingMixin:
    """Image embeddings of a SAM adapter.

    Reads the adapter's ``sam``, ``sam_type``, ``img_size``,
    ``encoder_chunk``, ``embed_cache``, :meth:`preprocess`,
    :meth:`_encode_batch`, :meth:`_autocast`, :meth:`autocast_dtype_on` and
    :meth:`_follow_device`.
    """

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

