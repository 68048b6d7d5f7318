# Copyright (c) s4m-mm authors. All rights reserved.
"""An in-memory LRU of SAM encoder outputs keyed by their exact input."""
from collections import OrderedDict
from typing import Callable, Sequence, Tuple

import torch
from torch import Tensor

from s4m_mm.utils import tensor_digest

#: an encoder's outputs for a batch: tensors with the batch on dim 0
EncoderOutputs = Tuple[Tensor, ...]


class EmbeddingCache:
    """Keep the encoder outputs of the last ``max_items`` distinct inputs.

    An input is identified by a digest of its exact values (dtype, shape,
    bytes), so an identical SAM input is never encoded twice, and a changed
    pixel is another input. It pays off when the same views come back, e.g.
    a few images seen under a finite set of flips, and costs one hash per
    image.

    Args:
        max_items (int): the number of inputs kept, least recently used out
            first; ``>= 1``.

    Attributes:
        hits (int): inputs served from the cache since construction.
        misses (int): inputs encoded since construction.
    """

    def __init__(self, max_items: int) -> None:
        if not isinstance(max_items, int) or max_items < 1:
            raise ValueError('EmbeddingCache: max_items must be an int >= 1, '
                             f'got {max_items!r}')
        self.max_items = max_items
        self._entries: 'OrderedDict[str, EncoderOutputs]' = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def encode(self, inputs: Tensor,
               encode: Callable[[Tensor], Sequence[Tensor]]) -> EncoderOutputs:
        """``encode(inputs)`` with every input already seen served from the
        cache and every other one (repeats in the batch included) encoded
        once.

        Args:
            inputs (Tensor): ``(B, ...)`` encoder inputs.
            encode (callable): ``(b, ...) -> (out_1 (b, ...), out_2 (b, ...),
                ...)``.

        Returns:
            tuple[Tensor, ...]: the outputs of the whole batch, on the device
            of ``inputs``.
        """
        keys = [tensor_digest(x) for x in inputs]
        unique = list(dict.fromkeys(keys))
        todo = [key for key in unique if key not in self._entries]
        if todo:
            outputs = encode(inputs[[keys.index(key) for key in todo]])
            for i, key in enumerate(todo):
                self._entries[key] = tuple(out[i].clone() for out in outputs)
        self.misses += len(todo)
        self.hits += len(keys) - len(todo)
        batch = tuple(
            torch.stack(parts).to(inputs.device)
            for parts in zip(*(self._entries[key] for key in keys)))
        for key in unique:
            self._entries.move_to_end(key)
        while len(self._entries) > self.max_items:
            self._entries.popitem(last=False)
        return batch
