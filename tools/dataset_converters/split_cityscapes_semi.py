# Copyright (c) s4m-mm authors. All rights reserved.
"""The S4M paper's Cityscapes 5/10/20/30 % splits as COCO-format jsons.

First convert Cityscapes with mmdet's converter (it ships with mmdet under
``.mim/tools/dataset_converters/cityscapes.py``)::

    MMDET=$(python -c 'import mmdet,os;print(os.path.dirname(mmdet.__file__))')
    python $MMDET/.mim/tools/dataset_converters/cityscapes.py \
        data/cityscapes --nproc 8 --out-dir data/cityscapes/annotations

then::

    python tools/dataset_converters/split_cityscapes_semi.py \
        data/cityscapes/annotations/instancesonly_filtered_gtFine_train.json

writes ``instancesonly_filtered_gtFine_train.1@{5,10,20,30}.json`` and the
matching ``-unlabeled.json`` files. The frame lists are the paper code's
(``s4m_mm/datasets/splits/cityscapes``, MIT, copyright 2025 cvlab-kaist).
"""
import argparse
import json
import os
import os.path as osp

from s4m_mm.datasets.coco_validation import load_coco_json
from s4m_mm.datasets.semi_split import (CITYSCAPES_PERCENTS,
                                        read_cityscapes_list,
                                        split_cityscapes, split_file_names)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument(
        'ann_file', help='instancesonly_filtered_gtFine_train.json')
    parser.add_argument('--out-dir', help='default: folder of ann_file')
    parser.add_argument(
        '--percents',
        type=int,
        nargs='+',
        default=list(CITYSCAPES_PERCENTS),
        choices=CITYSCAPES_PERCENTS)
    return parser.parse_args()


def main():
    args = parse_args()
    data = load_coco_json(
        args.ann_file,
        hint='create it with mmdet\'s tools/dataset_converters/cityscapes.py')
    out_dir = args.out_dir or osp.dirname(osp.abspath(args.ann_file))
    os.makedirs(out_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(args.ann_file))[0]
    for percent in args.percents:
        labeled, unlabeled = split_cityscapes(
            data, read_cityscapes_list(percent), source=args.ann_file)
        names = split_file_names(stem, 1, percent)
        for part, name in zip((labeled, unlabeled), names):
            with open(osp.join(out_dir, name), 'w', encoding='utf-8') as f:
                json.dump(part, f)
        print(f'{percent}%: {len(labeled["images"])} labeled / '
              f'{len(unlabeled["images"])} unlabeled images -> '
              f'{osp.join(out_dir, names[0])}')


if __name__ == '__main__':
    main()
