# Copyright (c) s4m-mm authors. All rights reserved.
"""Digests of exact tensor values (cache keys, replica checks)."""
import hashlib

import torch
from torch import Tensor


def update_digest(digest, tensor: Tensor) -> None:
    """Feed a tensor's dtype, shape and exact bytes to a hashlib digest."""
    data = tensor.detach().cpu().contiguous().reshape(-1)
    digest.update(f'{data.dtype}{tuple(tensor.shape)}'.encode())
    digest.update(data.view(torch.uint8).numpy().tobytes())


def tensor_digest(tensor: Tensor) -> str:
    """SHA-1 of a tensor's dtype, shape and exact values (hex)."""
    digest = hashlib.sha1()
    update_digest(digest, tensor)
    return digest.hexdigest()
