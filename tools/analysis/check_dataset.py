# Copyright (c) s4m-mm authors. All rights reserved.
"""What a config's training and val data hold, before training: images,
instances per class, image and box sizes, and the problems found.

    python tools/analysis/check_dataset.py CONFIG [--out report.json]
        [--cfg-options ...]

For a stage-2 config it reports the labeled and the unlabeled source and
the val set. It builds the datasets as training would (the same checks:
a bad annotation file or an unreadable unlabeled image is reported as
training would refuse it) but reads no pixels beyond image headers. Besides
refusals it reports, as warnings: classes without a labeled instance,
labeled images without instances, and unlabeled images that are also
labeled or val images (same bytes), which would leak labels into the
unlabeled set. Exit code 1 when training would refuse the data.
"""
import argparse
import copy
import hashlib
import json
import os.path as osp
import statistics
import sys
from collections import Counter, defaultdict
from typing import Dict, List

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

from mmdet.registry import DATASETS
from s4m_mm.engine.runner import apply_custom_settings


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--out', help='also write the report as JSON here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def sources(cfg: Config) -> Dict[str, dict]:
    """``{'labeled': cfg, 'unlabeled': cfg, 'val': cfg}`` dataset configs
    (no ``unlabeled`` for a stage-1 config)."""
    train = cfg.train_dataloader.dataset
    out = {}
    if train.type == 'ConcatDataset':
        out['labeled'], out['unlabeled'] = train.datasets[:2]
    else:
        out['labeled'] = train
    out['val'] = cfg.val_dataloader.dataset
    return out


def spread(values: List[float]) -> dict:
    if not values:
        return {}
    return dict(
        min=min(values), median=statistics.median(values), max=max(values))


def describe(name: str, ds_cfg: dict) -> dict:
    """Build one dataset without its pipeline and describe it."""
    ds_cfg = copy.deepcopy(ds_cfg)
    ds_cfg['pipeline'] = []
    ds_cfg.pop('filter_cfg', None)  # count the images training drops too
    if ds_cfg.get('type') == 'UnlabeledImageFolder':
        # list them all instead of stopping, truncated files included
        ds_cfg.update(skip_invalid=True, check_pixels=True)
    try:
        dataset = DATASETS.build(ds_cfg)
    except Exception as err:  # what training would stop with
        return dict(refused=f'{type(err).__name__}: {err}')
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    report = dict(
        type=type(dataset).__name__,
        images=len(infos),
        image_height=spread([d['height'] for d in infos]),
        image_width=spread([d['width'] for d in infos]),
        files=[d['img_path'] for d in infos])
    invalid = getattr(dataset, 'invalid_files', None)
    if invalid:
        report['refused'] = (f'{len(invalid)} unreadable images (training '
                             'stops on them unless skip_invalid=True)')
        report['invalid_files'] = list(invalid)
    if name == 'unlabeled':
        return report
    classes = list(dataset.metainfo['classes'])
    per_class = Counter()
    areas = []
    for info in infos:
        for inst in info['instances']:
            if inst.get('ignore_flag', 0):
                continue
            per_class[classes[inst['bbox_label']]] += 1
            x1, y1, x2, y2 = inst['bbox']
            areas.append((x2 - x1) * (y2 - y1))
    report.update(
        instances=sum(per_class.values()),
        instances_per_class={c: per_class[c]
                             for c in classes},
        images_without_instances=sum(
            1 for d in infos
            if not any(not i.get('ignore_flag', 0) for i in d['instances'])),
        box_area=spread(areas))
    return report


def sha1(path: str) -> str:
    digest = hashlib.sha1()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def leaked_images(labeled: List[str], unlabeled: List[str]) -> List[str]:
    """Unlabeled files with the bytes of a labeled or val file (sizes
    first, so most files are never hashed)."""
    by_size = defaultdict(list)
    for path in labeled:
        by_size[osp.getsize(path)].append(path)
    hashes = {}
    leaks = []
    for path in unlabeled:
        same_size = by_size.get(osp.getsize(path))
        if not same_size:
            continue
        for other in same_size:
            if other not in hashes:
                hashes[other] = sha1(other)
        if sha1(path) in {hashes[o] for o in same_size}:
            leaks.append(path)
    return leaks


def check(cfg: Config) -> dict:
    parts = {name: describe(name, ds) for name, ds in sources(cfg).items()}
    problems = [
        f'{name}: {part["refused"]}' for name, part in parts.items()
        if 'refused' in part
    ]
    warnings = []
    labeled = parts['labeled']
    if 'instances_per_class' in labeled:
        empty = [c for c, n in labeled['instances_per_class'].items() if not n]
        if empty:
            warnings.append(f'labeled: classes without an instance: {empty}')
        if labeled['images_without_instances']:
            warnings.append(
                f'labeled: {labeled["images_without_instances"]} images '
                'without instances (dropped from training by '
                'filter_empty_gt)')
    if 'files' in parts.get('unlabeled', {}):
        known = parts['labeled'].get('files', []) + parts['val'].get(
            'files', [])
        leaks = leaked_images(known, parts['unlabeled']['files'])
        if leaks:
            warnings.append(
                f'unlabeled: {len(leaks)} images are also labeled or val '
                f'images (same bytes): {leaks}')
    for part in parts.values():
        part.pop('files', None)
    return dict(parts=parts, problems=problems, warnings=warnings)


def print_report(report: dict) -> None:
    for name, part in report['parts'].items():
        print(f'== {name}')
        if set(part) == {'refused'}:
            print(f'  refused: {part["refused"]}')
            continue
        print(f'  {part["images"]} images ({part["type"]}); height '
              f'{part["image_height"]}, width {part["image_width"]}')
        if 'instances' in part:
            print(f'  {part["instances"]} instances: '
                  f'{part["instances_per_class"]}; box area (px) '
                  f'{part["box_area"]}')
    for kind in ('problems', 'warnings'):
        print(f'== {kind}: {len(report[kind])}')
        for line in report[kind]:
            print(f'  {line}')


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg = apply_custom_settings(cfg)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    report = check(cfg)
    print_report(report)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=2)
    sys.exit(1 if report['problems'] else 0)


if __name__ == '__main__':
    main()
