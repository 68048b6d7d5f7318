# Copyright (c) s4m-mm authors. All rights reserved.
from typing import Optional

from mmengine.runner.checkpoint import (_load_checkpoint,
                                        _load_checkpoint_to_model)
from torch import nn

from mmdet.registry import WEIGHT_INITIALIZERS
from s4m_mm.utils import resolve_asset_path


@WEIGHT_INITIALIZERS.register_module(name='CheckedPretrained')
class CheckedPretrainedInit:
    """Load pre-trained weights from a local file and check that they cover
    the module.

    Unlike mmengine's ``Pretrained`` (``strict=False``, a warning for keys it
    did not find), a missing file is an error that says how to obtain it and
    module parameters or buffers that the checkpoint does not provide are an
    error that lists them: nothing stays randomly initialised unnoticed.
    ``num_batches_tracked`` counters and checkpoint keys the module does not
    have (a classifier, say) are allowed.

    Args:
        checkpoint (str): path, or ``pkg://package/path`` for weights that
            ship inside an installed package.
        hint (str): how to obtain the file, appended to the error.
        prefix (str, optional): take only the checkpoint keys under this
            prefix (e.g. ``'backbone.'``), with the prefix removed.
    """

    def __init__(self,
                 checkpoint: str,
                 hint: str = '',
                 prefix: Optional[str] = None,
                 map_location: str = 'cpu'):
        self.checkpoint = checkpoint
        self.hint = hint
        self.prefix = prefix
        self.map_location = map_location

    def __call__(self, module: nn.Module) -> None:
        try:
            path = resolve_asset_path(self.checkpoint, 'pretrained weights')
        except FileNotFoundError as e:
            raise FileNotFoundError(
                f'{e}{". " + self.hint if self.hint else ""}') from None
        state = _load_checkpoint(path, map_location=self.map_location)
        state = state.get('state_dict', state)
        if self.prefix is not None:
            state = {
                k[len(self.prefix):]: v
                for k, v in state.items() if k.startswith(self.prefix)
            }
        missing = [
            k for k in module.state_dict()
            if k not in state and not k.endswith('num_batches_tracked')
        ]
        if missing:
            raise RuntimeError(
                f'pretrained weights {path!r} lack {len(missing)} keys of '
                f'{type(module).__name__}, e.g. {missing[:5]}')
        _load_checkpoint_to_model(module, state, strict=False)
        if hasattr(module, '_params_init_info'):
            for param in module.parameters():
                module._params_init_info[param]['init_info'] = (
                    f'CheckedPretrained {path}')

    def _get_init_info(self) -> str:
        return f'{self.__class__.__name__}: load from {self.checkpoint}'
