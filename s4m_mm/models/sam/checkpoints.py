# Copyright (c) s4m-mm authors. All rights reserved.
"""Reading SAM checkpoints, telling which SAM a file holds, and loading it
strictly: a missing or mismatched checkpoint is a clear error naming the
file and what it holds, never a silent random init."""
from typing import Dict, List, Optional

import torch
from torch import Tensor, nn

from s4m_mm.models.backbones import CheckpointMismatchError
from s4m_mm.utils import resolve_asset_path

#: Keys some SAM 1 checkpoints carry that are not weights of its parts.
IGNORED_CHECKPOINT_KEYS = ('pixel_mean', 'pixel_std')

#: SAM 1 ViT encoders by embedding width (``build_sam.py``).
SAM1_VIT_WIDTHS = {1280: 'vit_h', 1024: 'vit_l', 768: 'vit_b'}
#: SAM 2 Hiera trunks by (embedding width, number of blocks)
#: (``configs/sam2*/sam2*_hiera_*.yaml``).
SAM2_HIERA_SIZES = {
    (96, 12): 'hiera_t',
    (96, 16): 'hiera_s',
    (112, 24): 'hiera_b+',
    (144, 48): 'hiera_l',
}
#: A key only SAM 2.1 checkpoints have (``no_obj_embed_spatial: true`` in
#: the 2.1 configs).
SAM2_1_ONLY_KEY = 'no_obj_embed_spatial'


def read_sam_state_dict(path: str) -> Dict[str, Tensor]:
    """The weights of a SAM checkpoint file, as a flat ``state_dict``.

    Accepts a plain state dict or one nested under ``'model'`` (the official
    SAM 2 files) or ``'state_dict'``, with or without a ``'module.'`` prefix
    (DDP).
    """
    state = torch.load(path, map_location='cpu', weights_only=True)
    for key in ('model', 'state_dict'):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(
            isinstance(v, Tensor) for v in state.values()):
        raise CheckpointMismatchError(
            f'SAM checkpoint {path!r}: expected a state dict of tensors '
            "(possibly under 'model' or 'state_dict'), got "
            f'{type(state).__name__}')
    if state and all(k.startswith('module.') for k in state):
        state = {k[len('module.'):]: v for k, v in state.items()}
    return {k: v for k, v in state.items() if k not in IGNORED_CHECKPOINT_KEYS}


def _num_blocks(state: Dict[str, Tensor], prefix: str) -> int:
    return len({
        k[len(prefix):].split('.')[0]
        for k in state if k.startswith(prefix)
    })


def describe_sam_state_dict(state: Dict[str, Tensor]) -> Optional[str]:
    """Which SAM a state dict holds, from its image encoder, e.g.
    ``'SAM 1 vit_b (embed_dim 768, 12 blocks)'`` or ``'SAM 2.1 hiera_l
    (embed_dim 144, 48 blocks)'``; ``None`` if it is no SAM known here."""
    if 'image_encoder.patch_embed.seq.0.c.weight' in state:
        return 'LiteMedSAM (TinyViT encoder)'
    patch = state.get('image_encoder.trunk.patch_embed.proj.weight')
    if patch is not None:
        dim = patch.shape[0]
        depth = _num_blocks(state, 'image_encoder.trunk.blocks.')
        name = SAM2_HIERA_SIZES.get((dim, depth), 'Hiera')
        version = '2.1' if SAM2_1_ONLY_KEY in state else '2.0'
        return f'SAM {version} {name} (embed_dim {dim}, {depth} blocks)'
    patch = state.get('image_encoder.patch_embed.proj.weight')
    if patch is not None:
        dim = patch.shape[0]
        depth = _num_blocks(state, 'image_encoder.blocks.')
        name = SAM1_VIT_WIDTHS.get(dim, 'ViT')
        return f'SAM 1 {name} (embed_dim {dim}, {depth} blocks)'
    return None


def _first(keys: List[str], num: int = 5) -> str:
    shown = ', '.join(keys[:num])
    return shown + (f', ... ({len(keys)} in all)' if len(keys) > num else '')


def check_state_dict_fits(model: nn.Module, state: Dict[str, Tensor],
                          path: str, sam_type: str) -> None:
    """Raise :class:`CheckpointMismatchError` (a ``RuntimeError``) naming
    ``path``, the SAM the file holds and the first missing, unexpected
    and mis-shaped keys unless ``state`` fits ``model`` exactly."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mis_shaped = [
        f'{k} {tuple(state[k].shape)} vs model {tuple(v.shape)}'
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if not (missing or unexpected or mis_shaped):
        return
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing keys: {_first(missing)}')
    if unexpected:
        problems.append(
            f'{len(unexpected)} unexpected keys: {_first(unexpected)}')
    if mis_shaped:
        problems.append(f'{len(mis_shaped)} keys of another shape: '
                        f'{_first(mis_shaped, 3)}')
    held = describe_sam_state_dict(state)
    problems.insert(0, f'the file holds {held}' if held is not None else
                    'the file holds no SAM known here')
    raise CheckpointMismatchError(
        f'SAM checkpoint {path!r} does not fit sam_type={sam_type!r}: ' +
        '; '.join(problems))


def load_sam_checkpoint(model: nn.Module, checkpoint: str,
                        sam_type: str) -> str:
    """Load a SAM checkpoint into ``model`` strictly.

    Args:
        model (nn.Module): the SAM of an adapter.
        checkpoint (str): a path or ``pkg://package/path``.
        sam_type (str): for the error messages.

    Returns:
        str: the resolved file path.

    Raises:
        FileNotFoundError: the file (or its package) does not exist.
        CheckpointMismatchError: keys or shapes do not fit the model.
    """
    path = resolve_asset_path(checkpoint, f'SAM checkpoint ({sam_type})')
    state = read_sam_state_dict(path)
    check_state_dict_fits(model, state, path, sam_type)
    model.load_state_dict(state, strict=True)
    return path
