# Copyright (c) s4m-mm authors. All rights reserved.
from typing import Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet.registry import MODELS
from s4m_mm.utils import resolve_asset_path


class CheckpointMismatchError(RuntimeError):
    """Weights that do not fit the model they are loaded into."""


def _load_state_dict_file(path: str) -> dict:
    state = torch.load(path, map_location='cpu', weights_only=True)
    for key in ('state_dict', 'model'):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return state


def match_in_order(source: dict, target: dict, source_name: str) -> dict:
    """Rename ``source`` tensors to the keys of ``target`` by position.

    Checkpoints converted from another code base often keep the order of
    parameters but not their names. The two must have the same number of
    tensors and the same shape at every position.

    Raises:
        CheckpointMismatchError: naming the first positions that disagree.
    """
    src, tgt = list(source.items()), list(target.items())
    if len(src) != len(tgt):
        raise CheckpointMismatchError(
            f'{source_name}: {len(src)} tensors, the model has {len(tgt)}; '
            'weights cannot be matched in order')
    bad = [(i, sk, tuple(sv.shape), tk, tuple(tv.shape))
           for i, ((sk, sv), (tk, tv)) in enumerate(zip(src, tgt))
           if sv.shape != tv.shape]
    if bad:
        rows = '; '.join(f'#{i} {sk}{ss} -> {tk}{ts}'
                         for i, sk, ss, tk, ts in bad[:5])
        raise CheckpointMismatchError(
            f'{source_name}: {len(bad)} tensors differ in shape when matched '
            f'in order: {rows}')
    return {tk: sv for (_, sv), (tk, _) in zip(src, tgt)}


@MODELS.register_module()
class TimmBackbone(BaseModule):
    """A timm model as a multi-scale backbone (``features_only=True``).

    Args:
        model_name (str): timm model name, e.g. ``'tf_efficientnet_lite0'``.
        out_indices (Sequence[int]): feature levels to return; for most timm
            CNNs ``(1, 2, 3, 4)`` gives strides 4, 8, 16, 32.
        checkpoint (str | None): weights to load in :meth:`init_weights`: a
            path or ``pkg://package/path``. ``None`` asks explicitly for a
            random initialisation.
        key_order (str): ``'name'``: checkpoint keys are timm's;
            ``'in_order'``: tensors are matched by position against the
            full timm model (for weights converted from another
            implementation).
        norm_eval (bool): keep BatchNorm layers in eval mode while training.

    Shapes:
        input ``(N, 3, H, W)`` -> tuple of ``(N, C_i, H / s_i, W / s_i)``
        with ``C_i``, ``s_i`` in :attr:`out_channels`, :attr:`strides`.
    """

    def __init__(self,
                 model_name: str,
                 checkpoint: Optional[str],
                 out_indices: Sequence[int] = (1, 2, 3, 4),
                 key_order: str = 'name',
                 norm_eval: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        import timm
        if key_order not in ('name', 'in_order'):
            raise ValueError(
                f"key_order must be 'name' or 'in_order', got {key_order!r}")
        self.model_name = model_name
        self.checkpoint = checkpoint
        self.key_order = key_order
        self.norm_eval = norm_eval
        self.model = timm.create_model(
            model_name,
            pretrained=False,
            features_only=True,
            out_indices=tuple(out_indices))

    @property
    def out_channels(self) -> Tuple[int, ...]:
        return tuple(self.model.feature_info.channels())

    @property
    def strides(self) -> Tuple[int, ...]:
        return tuple(self.model.feature_info.reduction())

    def init_weights(self) -> None:
        if self.checkpoint is None:
            return super().init_weights()
        path = resolve_asset_path(self.checkpoint, f'{self.model_name} '
                                  'backbone checkpoint')
        state = _load_state_dict_file(path)
        if self.key_order == 'in_order':
            import timm
            full = timm.create_model(self.model_name, pretrained=False)
            state = match_in_order(state, full.state_dict(), path)
        self._load_features(state, path)
        self._is_init = True

    def _load_features(self, state: dict, source: str) -> None:
        own = self.model.state_dict()
        missing = [k for k in own if k not in state]
        if missing:
            raise CheckpointMismatchError(
                f'{source}: {len(missing)} backbone keys are not in the '
                f'checkpoint, e.g. {missing[:5]}')
        wrong = [(k, tuple(state[k].shape), tuple(v.shape))
                 for k, v in own.items() if state[k].shape != v.shape]
        if wrong:
            raise CheckpointMismatchError(
                f'{source}: shape mismatch for {len(wrong)} keys, e.g. '
                + ', '.join(f'{k}: checkpoint {a} vs model {b}'
                            for k, a, b in wrong[:5]))
        self.model.load_state_dict({k: state[k] for k in own})

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        return tuple(self.model(x))

    def train(self, mode: bool = True) -> 'TimmBackbone':
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
