# Copyright (c) s4m-mm authors. All rights reserved.
"""Train a detector from a config, with mmdet's command-line interface.

    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--resume [CKPT]]
        [--auto-scale-lr] [--cfg-options k=v ...] [--launcher pytorch]

Runs on GPU as mmdet's own tools/train.py does, and also on CPU-only machines,
including ``torchrun --nproc_per_node N tools/train.py ... --launcher
pytorch`` (gloo).
"""
import argparse
import os.path as osp

from mmengine.config import Config

from s4m_mm.utils.launch import (add_common_args, build_runner, load_config,
                                 shutdown_distributed)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    add_common_args(parser)
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate with the total batch size')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest one in '
        'the work dir when no path is given')
    return parser.parse_args()


def enable_amp(cfg: Config) -> None:
    optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if optim_wrapper == 'AmpOptimWrapper':
        print('AMP is already enabled in the config.')
        return
    if optim_wrapper != 'OptimWrapper':
        raise ValueError('--amp needs optim_wrapper.type OptimWrapper or '
                         f'AmpOptimWrapper, got {optim_wrapper!r}')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def enable_auto_scale_lr(cfg: Config) -> None:
    if 'auto_scale_lr' not in cfg or \
            'base_batch_size' not in cfg.auto_scale_lr:
        raise RuntimeError('--auto-scale-lr needs `auto_scale_lr = dict('
                           'enable=..., base_batch_size=...)` in the config')
    cfg.auto_scale_lr.enable = True


def main():
    args = parse_args()
    cfg = load_config(args)
    if args.amp:
        enable_amp(cfg)
    if args.auto_scale_lr:
        enable_auto_scale_lr(cfg)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    runner = build_runner(cfg)
    runner.train()
    print(f'work dir: {osp.abspath(cfg.work_dir)}')
    shutdown_distributed()


if __name__ == '__main__':
    main()
