# Copyright (c) s4m-mm authors. All rights reserved.
"""Let mmengine 0.10.7 read its own checkpoints under torch >= 2.6.

torch 2.6 made ``torch.load(weights_only=True)`` the default. mmengine 0.10.7
predates that: its checkpoints carry the message hub (``HistoryBuffer`` of
numpy arrays), which the weights-only unpickler refuses, so ``--resume`` and
``tools/test.py`` fail on checkpoints the Runner has just written.

The local-file loader is replaced by one that inspects the pickle first
(without running it) and loads with ``weights_only=False`` only when every
global it names is one of those an mmengine checkpoint holds; anything else
is refused as torch would refuse it.
"""
import os.path as osp

import torch
from mmengine.runner.checkpoint import CheckpointLoader

#: globals that mmengine's Runner checkpoints contain besides tensors
MMENGINE_CHECKPOINT_GLOBALS = frozenset({
    'mmengine.logging.history_buffer.HistoryBuffer',
    'numpy._core.multiarray._reconstruct',
    'numpy.core.multiarray._reconstruct',
    'numpy._core.multiarray.scalar',
    'numpy.core.multiarray.scalar',
    'numpy.ndarray',
    'numpy.dtype',
    'builtins.getattr',
    'collections.OrderedDict',
}) | {f'numpy.dtypes.{n}DType'
      for n in ('Float64', 'Float32', 'Float16', 'Int64', 'Int32', 'Int16',
                'Int8', 'UInt8', 'Bool')}


def unknown_globals(filename: str) -> list:
    """Globals of a torch zip checkpoint outside the mmengine set."""
    names = torch.serialization.get_unsafe_globals_in_checkpoint(filename)
    return sorted(set(names) - MMENGINE_CHECKPOINT_GLOBALS)


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_local_checkpoint(filename: str, map_location=None):
    """Load a local checkpoint written by mmengine (or a plain state dict).

    Raises:
        FileNotFoundError: the file does not exist.
        RuntimeError: the pickle names globals outside the mmengine set.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename!r} does not exist')
    try:
        unknown = unknown_globals(filename)
    except RuntimeError:  # legacy (non-zip) format: torch's own rules
        return torch.load(filename, map_location=map_location)
    if unknown:
        raise RuntimeError(
            f'checkpoint {filename!r} holds Python objects {unknown} besides '
            'tensors and mmengine\'s training state; refusing to unpickle it')
    return torch.load(
        filename, map_location=map_location, weights_only=False)
