# Copyright (c) s4m-mm authors. All rights reserved.
"""Export the student (or teacher) of an S4M checkpoint as a plain mmdet
checkpoint of its detector, for deployment with stock mmdet configs.

Any S4M student works: the wrapper keeps its detector's weights under
``student.`` / ``teacher.`` and its config as ``model.detector``, whether
that is a Mask2Former (the paper's), a Mask R-CNN or an RTMDet-Ins.

    python tools/model_converters/s4m_to_mmdet.py \
        work_dirs/s4m-student_r50_4xb6-368750iter_coco-1pct/iter_368750.pth \
        mask2former_s4m_coco1pct.pth [--which teacher] \
        [--config \
         configs/s4m/coco/s4m-student_r50_4xb6-368750iter_coco-1pct.py]

The output holds only the chosen model's weights (no optimizer, no SAM) and
the checkpoint's ``dataset_meta`` (class names). With ``--config`` (the
stage-2 config it was trained with) it also writes the plain detector's
config beside it (``mask2former_s4m_coco1pct.py``: ``model.detector``, its
test pipeline and visualizer, custom settings filled in), which mmdet's
``DetInferencer`` and ``tools/test.py`` take as they are.
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config

from s4m_mm.engine.runner import apply_custom_settings
from s4m_mm.utils.checkpoint_compat import load_local_checkpoint

#: what the exported config keeps of the stage-2 config besides the model
KEPT_KEYS = ('default_scope', 'custom_imports', 'test_dataloader',
             'test_evaluator', 'test_cfg', 'visualizer', 'vis_backends',
             'default_hooks', 'env_cfg', 'log_processor', 'log_level',
             'backend_args')


def extract(state_dict: dict, which: str, source: str) -> dict:
    """The weights under ``{which}.`` with the prefix removed."""
    prefix = f'{which}.'
    out = {k[len(prefix):]: v for k, v in state_dict.items()
           if k.startswith(prefix)}
    if not out:
        roots = sorted({k.split('.')[0] for k in state_dict})
        raise KeyError(f'{source} has no {which!r} weights (top-level keys: '
                       f'{roots}); is it an S4M stage-2 checkpoint?')
    return out


def deploy_config(config: str) -> Config:
    """The plain detector of a stage-2 config, runnable on its own: its
    ``model.detector`` (any mmdet detector) with the test-time parts of the
    runtime, ``${...}`` values filled from ``custom_settings``."""
    cfg = apply_custom_settings(Config.fromfile(config))
    detector = cfg.model.get('detector')
    if detector is None:
        raise KeyError(f'{config}: model.detector is missing; is it an S4M '
                       f'stage-2 config (model.type {cfg.model.get("type")!r})'
                       '?')
    kept = {k: cfg[k] for k in KEPT_KEYS if k in cfg}
    return Config(dict(kept, model=detector))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='S4M checkpoint')
    parser.add_argument('dst', help='output .pth')
    parser.add_argument(
        '--which', choices=['student', 'teacher'], default='student')
    parser.add_argument(
        '--config',
        help='the stage-2 config: also write the plain detector\'s config '
        'beside dst (same name, .py)')
    args = parser.parse_args()
    deploy = deploy_config(args.config) if args.config else None
    checkpoint = load_local_checkpoint(args.src, map_location='cpu')
    state = extract(checkpoint.get('state_dict', checkpoint), args.which,
                    args.src)
    meta = dict(checkpoint.get('meta', {}), exported_from=args.src,
                exported_model=args.which)
    meta.pop('hook_msgs', None)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save({'state_dict': state, 'meta': meta}, args.dst)
    print(f'wrote {len(state)} tensors of the {args.which} to {args.dst}')
    if deploy is not None:
        path = osp.splitext(args.dst)[0] + '.py'
        deploy.dump(path)
        print(f'wrote its config to {path}')


if __name__ == '__main__':
    main()
