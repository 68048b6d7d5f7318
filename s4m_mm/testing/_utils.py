# Copyright (c) s4m-mm authors. All rights reserved.
"""What the tests share: the repository's paths and the tiny random SAMs
and SD teacher they build again and again, so that one place says what
"tiny" is."""
import os.path as osp
from typing import Dict, List, Optional

#: the demo's SD teacher, the config ``tiny_teacher_cfg`` starts from
DEMO_TEACHER = 's4m/demo/s4m-teacher_effl0_nuclei.py'


def get_repo_root() -> str:
    """The root of the s4m-mm checkout this package is imported from (the
    folder holding ``configs/``, ``tools/`` and ``tests/``)."""
    return osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def get_config_path(rel: str) -> str:
    """The absolute path of ``configs/<rel>`` (a file or a folder) in the
    repository.

    Raises:
        FileNotFoundError: no such file, naming the path looked at.
    """
    path = osp.join(get_repo_root(), 'configs', rel)
    if not osp.exists(path):
        raise FileNotFoundError(f'no config {rel!r}: {path} does not exist')
    return path


def tiny_sam_options(**overrides) -> Dict:
    """The architecture options of a tiny random SAM 1: random weights
    (no checkpoint read), a 64 px input and one ViT block in the image
    encoder, then ``overrides``. These are the keyword arguments of
    ``SAMAdapter`` beside ``sam_type`` and ``checkpoint``, and the
    ``sam_options`` of the custom settings."""
    return dict(dict(random_init=True, img_size=64, encoder_depth=1),
                **overrides)


def tiny_sam_cfg(**overrides) -> Dict:
    """The model config of a tiny random SAM 1: a ``SAMAdapter`` of
    ``vit_b`` without checkpoint, with ``tiny_sam_options`` (64 px input,
    one encoder block), then ``overrides`` (e.g. ``img_size=256``)."""
    cfg = dict(type='SAMAdapter', sam_type='vit_b', checkpoint=None)
    cfg.update(tiny_sam_options())
    cfg.update(overrides)
    return cfg


def tiny_sam2_options(**overrides) -> Dict:
    """The architecture options of a tiny random SAM 2: random weights and
    a 64 px input (Hiera-tiny keeps its depth), then ``overrides``."""
    return dict(dict(random_init=True, img_size=64), **overrides)


def tiny_sam2_cfg(**overrides) -> Dict:
    """The model config of a tiny random SAM 2: a ``SAM2Adapter`` of
    ``sam2_hiera_t`` without checkpoint, random, at 64 px, then
    ``overrides``."""
    cfg = dict(type='SAM2Adapter', sam_type='sam2_hiera_t', checkpoint=None)
    cfg.update(tiny_sam2_options())
    cfg.update(overrides)
    return cfg


def tiny_teacher_cfg(sd_frame: Optional[str] = None,
                     sam: Optional[Dict] = None,
                     num_sd_points: int = 8):
    """The demo's SD teacher config (``mmengine.Config``, default scope
    set to mmdet) with no backbone checkpoint, ``num_sd_points`` query
    points and the SAM ``sam`` (by default a random 1-block ViT-B at
    256 px, ``tiny_sam_cfg(img_size=256)``); ``sd_frame`` replaces the
    config's frame of SAM (``'source'``) when given."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(get_config_path(DEMO_TEACHER))
    init_default_scope('mmdet')
    cfg.model.backbone.checkpoint = None
    if sd_frame is not None:
        cfg.model.sd_frame = sd_frame
    cfg.model.sam = tiny_sam_cfg(img_size=256) if sam is None else sam
    cfg.model.panoptic_head.num_sd_points = num_sd_points
    return cfg


def prefixed(cfg: Dict, prefix: str) -> Dict:
    """``cfg``'s items under the dotted keys ``<prefix>.<key>``, for
    ``Config.merge_from_dict``."""
    return {f'{prefix}.{key}': value for key, value in cfg.items()}


def cfg_option_args(cfg: Dict, prefix: Optional[str] = None) -> List[str]:
    """``cfg`` as ``--cfg-options`` arguments ``[<prefix>.]<key>=<value>``
    (e.g. ``model.refiner.sam.img_size=64``), in ``cfg``'s order."""
    if prefix is not None:
        cfg = prefixed(cfg, prefix)
    return [f'{key}={value}' for key, value in cfg.items()]
