# Copyright (c) s4m-mm authors. All rights reserved.
"""The set-up the analysis tools share, as mmdet's ``mmdet/utils/
benchmark.py`` serves its benchmark tools: the config with the command
line's overrides, the model, the teacher's weights, a SAM with random
weights, timing on a device and the description of the machine that goes
with the figures.

Used by ``tools/analysis/benchmark_iteration.py``, ``benchmark_sam.py``,
``benchmark_stage1.py``, ``cost_model.py``, ``pseudo_label_quality.py``,
``browse_pseudo_labels.py`` and ``tools/fill_sam_embeddings.py``.

Part of :mod:`s4m_mm.analysis`, above the engine and the models it
imports (nothing in the library imports it): ``from s4m_mm.analysis.benchmark
import ...``.
"""
import copy
import json
import os.path as osp
import platform
import resource
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple, Union

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import import_modules_from_strings
from torch import nn

DeviceLike = Union[str, torch.device]

# ------------------------------------------------------------------ set-up


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """The config of ``path`` as the tools run it: ``--cfg-options``
    merged, ``custom_settings`` placeholders filled, ``custom_imports``
    imported and the default scope set (so that ``MODELS.build`` finds
    mmdet's and s4m-mm's modules).

    Args:
        path (str): the config file.
        cfg_options (dict, optional): ``--cfg-options`` (``DictAction``).
    """
    from s4m_mm.engine.runner import apply_custom_settings
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg = apply_custom_settings(cfg)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return cfg


def resolve_device(name: DeviceLike) -> torch.device:
    """``torch.device(name)``; a CUDA device on a machine without CUDA is
    an error that names the option.

    Raises:
        SystemExit: ``--device cuda...`` without CUDA.
    """
    device = torch.device(name)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit(f'--device {name}: CUDA is not available')
    return device


def build_model(model_cfg: dict,
                device: Optional[DeviceLike] = None) -> nn.Module:
    """``MODELS.build(model_cfg)``, moved to ``device`` when given (the
    weights are the modules' own initialisation: no ``init_weights``)."""
    from mmdet.registry import MODELS
    model = MODELS.build(model_cfg)
    return model if device is None else model.to(device)


def teacher_checkpoint(cfg: Config,
                       given: Optional[str] = None) -> Optional[str]:
    """The teacher checkpoint to load: ``given`` when set, else the
    ``teacher_checkpoint`` of the config's named teacher schedule hook
    (``default_hooks.teacher_schedule``, where the student configs hold
    it) when that file exists, else ``None`` (a random teacher; also when
    the slot is missing or switched off with ``None``)."""
    if given:
        return given
    hook = (cfg.get('default_hooks') or {}).get('teacher_schedule')
    path = hook.get('teacher_checkpoint') if hook else None
    if path and osp.isfile(path):
        return path
    return None


def load_teacher(model: nn.Module,
                 checkpoint: Optional[str],
                 allow_random: bool = False) -> str:
    """Load a stage-1 checkpoint into ``model.teacher`` (an S4M's), with
    :func:`load_teacher_weights` (exact keys and shapes).

    Args:
        model (nn.Module): an S4M, changed in place.
        checkpoint (str, optional): path, URL or ``pkg://`` asset.
        allow_random (bool): with ``checkpoint=None``, keep the teacher's
            random weights instead of raising.

    Returns:
        str: the loaded path, or ``'random'``.
    """
    from s4m_mm.models.utils import load_teacher_weights
    if checkpoint is None and allow_random:
        return 'random'
    return load_teacher_weights(model.teacher, checkpoint)


def sam_config(sam_type: str, checkpoint: Optional[str] = None,
               **kwargs) -> dict:
    """The adapter config of ``sam_type`` for a benchmark: random weights
    (``random_init=True``) without ``checkpoint``, except LiteMedSAM,
    whose weights ship in a package. Random weights cost the same as real
    ones."""
    from s4m_mm.models.sam import sam_adapter_config
    random_init = checkpoint is None and sam_type != 'lite_medsam'
    if random_init:
        return sam_adapter_config(sam_type, random_init=True, **kwargs)
    return sam_adapter_config(sam_type, checkpoint, **kwargs)


def sam_weights(adapter: nn.Module) -> str:
    """``'real'`` when the adapter loaded a checkpoint, else
    ``'random'``."""
    return 'random' if adapter.checkpoint is None else 'real'


def build_optim_wrapper_for(model: nn.Module,
                            optim_cfg: dict,
                            device: torch.device,
                            paramwise: bool = True):
    """The config's optimizer wrapper of ``model`` on ``device``: an
    ``AmpOptimWrapper`` becomes a plain ``OptimWrapper`` off CUDA (AMP's
    loss scaling needs CUDA); ``paramwise=False`` drops ``paramwise_cfg``
    (one group of all parameters)."""
    from mmengine.optim import build_optim_wrapper
    optim_cfg = copy.deepcopy(optim_cfg)
    if device.type != 'cuda' and optim_cfg.get('type') == 'AmpOptimWrapper':
        optim_cfg.type = 'OptimWrapper'
        optim_cfg.pop('loss_scale', None)
        optim_cfg.pop('dtype', None)
    if not paramwise:
        optim_cfg.pop('paramwise_cfg', None)
    return build_optim_wrapper(model, optim_cfg)


# ------------------------------------------------------------------ timing


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing elsewhere."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_once(fn: Callable[[], object],
              device: torch.device) -> Tuple[float, float]:
    """``(wall, process CPU)`` seconds of one call of ``fn``, synchronised
    before and after on CUDA."""
    sync(device)
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    sync(device)
    return time.perf_counter() - start, time.process_time() - start_cpu


@dataclass
class Timing:
    """Seconds of the timed calls of :func:`timed`, in order."""
    wall: List[float] = field(default_factory=list)
    cpu: List[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        """Median wall seconds."""
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        """Median process CPU seconds."""
        return statistics.median(self.cpu)


def timed(fn: Callable[[], object], device: torch.device, repeats: int,
          warmup: int) -> Timing:
    """``warmup`` untimed calls of ``fn``, then ``repeats`` timed ones
    (:func:`time_once`)."""
    for _ in range(warmup):
        fn()
    timing = Timing()
    for _ in range(repeats):
        wall, cpu = time_once(fn, device)
        timing.wall.append(wall)
        timing.cpu.append(cpu)
    return timing


class PartTimer:
    """Wall seconds of named parts of an iteration, synchronised on CUDA;
    a part timed twice adds up.

    Example::

        timer = PartTimer(device)
        with timer('teacher'):
            ...
        timer.seconds  # {'teacher': 0.12}
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds: Dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        sync(self.device)
        start = time.perf_counter()
        yield
        sync(self.device)
        self.seconds[name] = self.seconds.get(name, 0.0) + \
            time.perf_counter() - start


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory in MiB: CUDA's allocated peak on a GPU, the process's
    resident peak elsewhere."""
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------ report


def device_name(device: DeviceLike) -> str:
    """The GPU's name, or ``'cpu (<processor>, <N> threads)'``."""
    device = torch.device(device)
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    return (f'cpu ({platform.processor() or platform.machine()}, '
            f'{torch.get_num_threads()} threads)')


def environment(device: DeviceLike) -> dict:
    """What a benchmark's figures were measured on: ``device`` (see
    :func:`device_name`), ``torch`` version and ``cpu_threads``."""
    return dict(
        device=device_name(device),
        torch=torch.__version__,
        cpu_threads=torch.get_num_threads())


def write_report(report: dict, out: Optional[str] = None) -> str:
    """Print ``report`` as indented JSON and, with ``out``, write it there
    too.

    Returns:
        str: the JSON text.
    """
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        with open(out, 'w') as f:
            f.write(text + '\n')
    return text
