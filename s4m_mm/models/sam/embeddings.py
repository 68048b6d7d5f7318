# Copyright (c) s4m-mm authors. All rights reserved.
"""What a SAM image encoder hands to its prompt decoder."""
from dataclasses import dataclass
from typing import Tuple, Union

import torch
from torch import Tensor


@dataclass(frozen=True)
class SAMEmbeddings:
    """Image embeddings of a batch, with the frame their prompts live in.

    Attributes:
        image (Tensor): ``(B, 256, h, w)`` float32 image embeddings (for
            SAM 2 with ``no_mem_embed`` added, as ``SAM2ImagePredictor``).
        img_shape (tuple[int, int]): ``(H, W)`` of the images they come
            from: prompts and output masks are in pixels of that frame.
        high_res (tuple[Tensor, ...]): the extra feature maps the decoder
            upsamples masks with, one ``(B, C_l, H_l, W_l)`` per level
            (SAM 2: ``(B, 32, 4h, 4w)`` and ``(B, 64, 2h, 2w)``, already
            projected by ``conv_s0`` / ``conv_s1``); empty for SAM 1.
    """
    image: Tensor
    img_shape: Tuple[int, int]
    high_res: Tuple[Tensor, ...] = ()

    def __post_init__(self) -> None:
        if self.image.dim() != 4:
            raise ValueError('SAMEmbeddings: image must be (B, C, h, w), got '
                             f'{tuple(self.image.shape)}')
        for level in self.high_res:
            if level.dim() != 4 or level.shape[0] != self.image.shape[0]:
                raise ValueError(
                    'SAMEmbeddings: every high_res level must be (B, C, H, '
                    f'W) with B = {self.image.shape[0]}, got '
                    f'{tuple(level.shape)}')
        object.__setattr__(self, 'img_shape',
                           (int(self.img_shape[0]), int(self.img_shape[1])))

    def __len__(self) -> int:
        return self.image.shape[0]

    def __getitem__(self, index: Union[int, slice, Tensor]) -> 'SAMEmbeddings':
        """The embeddings of some images (an int keeps the batch dim)."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return SAMEmbeddings(self.image[index], self.img_shape,
                             tuple(level[index] for level in self.high_res))

    @property
    def device(self) -> torch.device:
        return self.image.device

    def to(self, device: Union[str, torch.device]) -> 'SAMEmbeddings':
        return SAMEmbeddings(self.image.to(device), self.img_shape,
                             tuple(level.to(device)
                                   for level in self.high_res))

    @staticmethod
    def cat(parts: 'list') -> 'SAMEmbeddings':
        """Concatenate the embeddings of batches of the same frame."""
        shapes = {part.img_shape for part in parts}
        if len(shapes) != 1:
            raise ValueError('SAMEmbeddings.cat: the parts come from frames '
                             f'of different sizes {sorted(shapes)}')
        return SAMEmbeddings(
            torch.cat([part.image for part in parts]), parts[0].img_shape,
            tuple(
                torch.cat(levels)
                for levels in zip(*(part.high_res for part in parts))))


def shape_str(x: Tensor) -> str:
    """``'(d0, d1, ...)'``: a tensor's shape in error messages."""
    return str(tuple(x.shape))
