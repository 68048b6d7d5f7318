# Copyright (c) s4m-mm authors. All rights reserved.
"""Evaluate a checkpoint, with mmdet's command-line interface.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out RESULTS.pkl]
        [--show-dir DIR] [--metrics-out METRICS.json]
        [--cfg-options k=v ...] [--launcher pytorch]
"""
import argparse
import json
import os
import os.path as osp

from mmengine.config import Config

from s4m_mm.utils.launch import (add_common_args, build_runner, load_config,
                                 shutdown_distributed)


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    add_common_args(parser)
    parser.add_argument(
        '--out', help='dump predictions to a pickle file (.pkl)')
    parser.add_argument(
        '--metrics-out', help='write the evaluation metrics to a json file')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='save drawn predictions into this folder (relative to the '
        'timestamped folder of the work dir)')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    return parser.parse_args()


def enable_visualization(cfg: Config, args) -> None:
    hooks = cfg.default_hooks
    if 'visualization' not in hooks:
        raise RuntimeError('--show and --show-dir need a `visualization` hook '
                           'in default_hooks (DetVisualizationHook)')
    hooks.visualization.draw = True
    if args.show:
        hooks.visualization.show = True
        hooks.visualization.wait_time = args.wait_time
    if args.show_dir:
        hooks.visualization.test_out_dir = args.show_dir


def main():
    args = parse_args()
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--out must be a .pkl file, got {args.out!r}')
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} does not '
                                'exist')
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        enable_visualization(cfg, args)
    runner = build_runner(cfg)
    if args.out is not None:
        from mmdet.evaluation import DumpDetResults
        runner.test_evaluator.metrics.append(
            DumpDetResults(out_file_path=args.out))
    metrics = runner.test()
    if args.metrics_out and runner.rank == 0:
        os.makedirs(osp.dirname(osp.abspath(args.metrics_out)), exist_ok=True)
        with open(args.metrics_out, 'w') as f:
            json.dump({k: float(v) for k, v in metrics.items()}, f, indent=2)
    shutdown_distributed()


if __name__ == '__main__':
    main()
