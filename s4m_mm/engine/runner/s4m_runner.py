# Copyright (c) s4m-mm authors. All rights reserved.
from typing import Dict, Optional, Union

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .custom_settings import apply_custom_settings


#: the default hooks mmengine's Runner registers itself; ``None`` removes
#: one of them there
MMENGINE_DEFAULT_HOOKS = ('runtime_info', 'timer', 'sampler_seed', 'logger',
                          'param_scheduler', 'checkpoint')


def drop_switched_off_hooks(
    hooks: Optional[Dict[str, Union[Hook, dict, None]]]
) -> Optional[Dict[str, Union[Hook, dict, None]]]:
    """``default_hooks`` without the names of this package (or any other
    beyond mmengine's own) that are set to ``None``.

    mmengine's Runner accepts ``None`` only for its six own default hooks
    (``timer=None`` removes the timer: those are passed on) and fails on
    any other name; this package's hooks sit in named slots too
    (``teacher_schedule``, ``refine``, ``finite_loss``, ``rng_state``,
    ...), so a config switches one off the same way:
    ``default_hooks = dict(refine=None)``.
    """
    if hooks is None:
        return None
    return {
        name: hook
        for name, hook in hooks.items()
        if hook is not None or name in MMENGINE_DEFAULT_HOOKS
    }


@RUNNERS.register_module()
class S4MRunner(Runner):
    """mmengine's Runner for the configs of this package.

    - :meth:`from_cfg` first fills the config's ``'${name}'`` placeholders
      from its ``custom_settings`` (:func:`apply_custom_settings`, the
      custom-data template ``configs/s4m/custom``); the config dumped into
      the work directory is the filled one.
    - any named hook of ``default_hooks`` set to ``None`` is left out
      (:func:`drop_switched_off_hooks`), mmengine's own ones as before.

    Every s4m config chooses it with ``runner_type = 'S4MRunner'``
    (``_base_/default_runtime.py``), which mmdet's ``tools/train.py`` and
    ``tools/test.py`` honour. It is registered in mmengine's root registry
    of runners: mmdet's ``tools/train.py`` builds ``runner_type`` from that
    one (its ``tools/test.py`` from mmdet's, which falls back to it)."""

    @classmethod
    def from_cfg(cls, cfg: Config) -> 'S4MRunner':
        return super().from_cfg(apply_custom_settings(cfg))

    def register_default_hooks(
            self,
            hooks: Optional[Dict[str, Union[Hook, dict, None]]] = None
    ) -> None:
        super().register_default_hooks(drop_switched_off_hooks(hooks))
