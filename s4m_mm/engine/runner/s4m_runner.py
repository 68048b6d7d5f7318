# Copyright (c) s4m-mm authors. All rights reserved.
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .custom_settings import apply_custom_settings


@RUNNERS.register_module()
class S4MRunner(Runner):
    """mmengine's Runner, after :func:`apply_custom_settings` has filled the
    config's ``'${name}'`` placeholders from its ``custom_settings`` (the
    custom-data template, ``configs/s4m/custom``). Chosen by the config's
    ``runner_type = 'S4MRunner'``, which mmdet's ``tools/train.py`` and
    ``tools/test.py`` honour as this package's; the config dumped into the
    work directory is the filled one.

    It is registered in mmengine's root registry of runners: mmdet's
    ``tools/train.py`` builds ``runner_type`` from that one (its
    ``tools/test.py`` from mmdet's, which falls back to it)."""

    @classmethod
    def from_cfg(cls, cfg: Config) -> 'S4MRunner':
        return super().from_cfg(apply_custom_settings(cfg))
