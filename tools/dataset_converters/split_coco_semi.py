# Copyright (c) s4m-mm authors. All rights reserved.
"""Split a COCO-format train json into labeled / unlabeled parts.

    python tools/dataset_converters/split_coco_semi.py \
        data/coco/annotations/instances_train2017.json \
        --percents 1 2 5 10 --folds 1 2 3 4 5 --seed 0

writes, next to the input (or into ``--out-dir``), mmdet's names
``instances_train2017.{fold}@{percent}.json`` and
``instances_train2017.{fold}@{percent}-unlabeled.json``. The same seed gives
byte-identical files; every image lands in exactly one part, with all its
annotations.
"""
import argparse
import json
import os
import os.path as osp

from s4m_mm.datasets.coco_validation import load_coco_json
from s4m_mm.datasets.semi_split import (check_percent, split_coco,
                                        split_file_names)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('ann_file', help='COCO-format train json')
    parser.add_argument('--out-dir', help='default: folder of ann_file')
    parser.add_argument(
        '--percents', type=float, nargs='+', default=[1, 2, 5, 10])
    parser.add_argument('--folds', type=int, nargs='+', default=[1])
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def write_json(data, path):
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(data, f)


def main():
    args = parse_args()
    for p in args.percents:
        check_percent(p)  # fail before any work
    data = load_coco_json(args.ann_file)
    out_dir = args.out_dir or osp.dirname(osp.abspath(args.ann_file))
    os.makedirs(out_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(args.ann_file))[0]
    for fold in args.folds:
        for percent in args.percents:
            labeled, unlabeled = split_coco(
                data, percent, fold=fold, seed=args.seed,
                source=args.ann_file)
            names = split_file_names(stem, fold, percent)
            for part, name in zip((labeled, unlabeled), names):
                write_json(part, osp.join(out_dir, name))
            print(f'fold {fold} {percent:g}%: {len(labeled["images"])} '
                  f'labeled / {len(unlabeled["images"])} unlabeled images '
                  f'-> {osp.join(out_dir, names[0])}')


if __name__ == '__main__':
    main()
