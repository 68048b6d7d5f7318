# Copyright (c) s4m-mm authors. All rights reserved.
"""Build the embedded nuclei demo dataset from the stardist==0.9.2 wheel.

    python tools/dataset_converters/prepare_nuclei_demo.py \\
        --out-dir data/nuclei

``--num-folds K --fold F`` writes fold F of a seeded K-fold split instead
(fold F's tiles are val; ``--num-labeled`` labeled, ``--num-dev`` dev tiles
for early stopping and the rest unlabeled from the other folds; plus
``annotations/all.json``), as tools/analysis/component_study.py uses it.

``--layout own-data`` writes the same tiles as a user with their own data
would have them (a labeled and a val json, a folder of unlabeled PNGs with no
annotation file), for configs/s4m/custom.

The wheel is downloaded once with ``pip download --no-deps`` into
``data/cache/stardist`` of this repository (``tools/setup_env.sh`` does it
with ``--fetch-only``); stardist itself is not installed.
"""
import argparse
import json

from s4m_mm.demo.nuclei_data import (DEFAULT_CACHE, build_nuclei_dataset,
                                     fetch_stardist_wheel,
                                     read_stardist_arrays,
                                     rearrange_as_own_data)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--out-dir', default='data/nuclei')
    parser.add_argument(
        '--cache-dir',
        default=DEFAULT_CACHE,
        help='where the stardist wheel is downloaded once')
    parser.add_argument('--wheel', help='use this stardist wheel file')
    parser.add_argument(
        '--fetch-only',
        action='store_true',
        help='only download the wheel into --cache-dir')
    parser.add_argument('--tile-size', type=int, default=128)
    parser.add_argument('--num-labeled', type=int, default=3)
    parser.add_argument('--num-val', type=int, default=4)
    parser.add_argument('--min-area', type=int, default=8)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--num-folds',
        type=int,
        help='k-fold split: write fold --fold of this many (seeded by '
        '--seed; --num-val is not used)')
    parser.add_argument('--fold', type=int, default=0)
    parser.add_argument(
        '--num-dev',
        type=int,
        default=0,
        help='with --num-folds: tiles held out of training for early '
        'stopping (annotations/dev.json)')
    parser.add_argument(
        '--layout',
        choices=['demo', 'own-data'],
        default='demo',
        help='own-data: labeled.json, val.json and a folder of unlabeled '
        'images')
    return parser.parse_args()


def main():
    args = parse_args()
    wheel = args.wheel or fetch_stardist_wheel(args.cache_dir)
    if args.fetch_only:
        print(f'stardist wheel: {wheel}')
        return
    image, labels = read_stardist_arrays(wheel)
    summary = build_nuclei_dataset(
        image,
        labels,
        args.out_dir,
        tile_size=args.tile_size,
        num_labeled=args.num_labeled,
        num_val=args.num_val,
        min_area=args.min_area,
        seed=args.seed,
        num_folds=args.num_folds,
        fold=args.fold,
        num_dev=args.num_dev)
    if args.layout == 'own-data':
        summary['own_data_layout'] = rearrange_as_own_data(args.out_dir)
    print(json.dumps(summary, indent=2))


if __name__ == '__main__':
    main()
