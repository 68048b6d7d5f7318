# Copyright (c) s4m-mm authors. All rights reserved.
"""Prompts of a SAM adapter: the checks of embeddings and image indices,
the sparse prompt tokens, and the prompt-conditioned image tokens of point
prompts (``F_SAM^p`` of structural distillation)."""
from typing import Optional, Tuple

import torch
from torch import Tensor

from .embeddings import SAMEmbeddings, shape_str
from .point_features import image_side, prompt_image_tokens
from .precision import autocast_disabled


class SAMPromptingMixin:
    """Prompt tokens and :meth:`point_features` of a SAM adapter.

    Reads the adapter's ``embed_dim``, ``embed_size``, ``decoder_chunk``,
    ``_prompt_encoder``, ``_mask_decoder``, :meth:`_encode_prompts`,
    :meth:`_output_tokens`, :meth:`to_input_coords`, :meth:`_autocast` and
    :meth:`_follow_device`.
    """

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
                             f'{shape_str(embeddings.image)}')

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
                f'{shape_str(image_index)}')
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
                             f'(x, y), got {shape_str(points)}')
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

