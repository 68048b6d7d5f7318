# Copyright (c) s4m-mm authors. All rights reserved.
"""Fill the SAM embedding store of a stage-2 config ahead of training.

For a config whose refiner runs in the source frame
(``model.refiner.frame='source'`` with ``store.disk_dir`` set), encode
every unlabeled image (``--split unlabeled``, default; ``labeled`` or
``all`` also take the labeled source) once with the refiner's SAM and
write it to the store's disk directory, skipping intact current entries
(a corrupt or stale one is rewritten). Prints the bytes per image and in
total.

Several processes can fill one store at once (``--shard I N`` takes every
N-th image from the I-th): entries are written atomically.

Examples::

    python tools/fill_sam_embeddings.py CONFIG \\
        --cfg-options model.refiner.store.disk_dir=work_dirs/sam_store
    python tools/fill_sam_embeddings.py CONFIG --shard 0 2 --device cuda &
    python tools/fill_sam_embeddings.py CONFIG --shard 1 2 --device cuda:1
"""
import argparse
import copy
import time

import torch
from mmengine.config import Config, DictAction

from mmdet.registry import DATASETS
from s4m_mm.analysis.benchmark import (build_model, load_config,
                                       resolve_device, write_report)
from s4m_mm.models.sam import StoreKey
from s4m_mm.models.sam.embed_store import entry_nbytes


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--split', choices=['unlabeled', 'labeled', 'all'],
                        default='unlabeled')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch-size', type=int, default=4,
                        help='images per encoder pass')
    parser.add_argument('--shard', type=int, nargs=2, default=(0, 1),
                        metavar=('I', 'N'))
    parser.add_argument('--limit', type=int, default=None,
                        help='at most this many images (a trial run)')
    parser.add_argument('--seed', type=int, default=0,
                        help='torch seed before the SAM is built (random '
                        'weights are then the same in every process)')
    parser.add_argument('--out', help='also write the summary as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def refiner_config(cfg: Config, path: str) -> dict:
    refiner = cfg.model.get('refiner')
    if not refiner:
        raise ValueError(f'{path}: model.refiner is not set; this tool fills '
                         "the store of a refiner with frame='source'")
    if refiner.get('frame', 'view') != 'source':
        raise ValueError(
            f"{path}: model.refiner.frame is {refiner.get('frame', 'view')!r}"
            "; the store is used with frame='source' (--cfg-options "
            'model.refiner.frame=source)')
    if not (refiner.get('store') or {}).get('disk_dir'):
        raise ValueError(
            f'{path}: model.refiner.store.disk_dir is not set: an in-memory '
            'store cannot be filled ahead of training (--cfg-options '
            'model.refiner.store.disk_dir=DIR)')
    return refiner


def image_paths(cfg: Config, split: str):
    """``(img_path, (H, W))`` of the split's images, from their dataset
    (built without its pipeline)."""
    train = cfg.train_dataloader.dataset
    if train.type != 'ConcatDataset' or len(train.datasets) < 2:
        raise ValueError('the config is not a stage-2 config: '
                         'train_dataloader.dataset must be a ConcatDataset '
                         'of the labeled and the unlabeled source')
    chosen = dict(labeled=[0], unlabeled=[1], all=[0, 1])[split]
    seen = set()
    for index in chosen:
        ds_cfg = copy.deepcopy(train.datasets[index])
        ds_cfg['pipeline'] = []
        dataset = DATASETS.build(ds_cfg)
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            if info['img_path'] not in seen:
                seen.add(info['img_path'])
                yield info['img_path'], (info['height'], info['width'])


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    torch.manual_seed(args.seed)
    refiner = build_model(refiner_config(cfg, args.config))
    source = refiner.predictor.source
    store, sam = source.store, source.sam
    device = resolve_device(args.device)
    identity = sam.store_identity(device)
    shard, num_shards = args.shard
    todo = [p for i, p in enumerate(image_paths(cfg, args.split))
            if i % num_shards == shard][:args.limit]

    sizes, present, start = [], 0, time.perf_counter()
    existing_size = 0

    def flush(batch):
        images = [source.load(path, hw).to(device)
                  for path, hw, _ in batch]
        for (_, _, key), out in zip(batch, sam.embed_image_list(images)):
            sizes.append(entry_nbytes(store.put(key, out)))

    batch = []
    for path, hw in todo:
        key = StoreKey(path, identity, hw)
        stored = store.get(key)
        if stored is not None:
            present += 1
            existing_size = entry_nbytes(stored)
            continue
        batch.append((path, hw, key))
        if len(batch) == args.batch_size:
            flush(batch)
            batch = []
            print(f'{len(sizes) + present}/{len(todo)} images', flush=True)
    if batch:
        flush(batch)
    seconds = time.perf_counter() - start
    per_image = sizes[0] if sizes else existing_size
    summary = dict(
        config=args.config, split=args.split, shard=list(args.shard),
        disk_dir=store.disk_dir, sam=identity, dtype=store.dtype,
        images=len(todo), written=len(sizes), already_present=present,
        corrupt_or_stale_rewritten=store.stats['corrupt'] +
        store.stats['stale'],
        bytes_per_image=per_image,
        bytes_written=sum(sizes),
        projected_bytes_total=per_image * len(todo), seconds=seconds)
    print(f'{len(sizes)} written, {present} already there; '
          f'{per_image / 2**20:.2f} MiB per image, '
          f'{sum(sizes) / 2**20:.1f} MiB written, '
          f'{per_image * len(todo) / 2**30:.3f} GiB for the {len(todo)} '
          f'images of this shard ({seconds:.1f} s)')
    write_report(summary, args.out)


if __name__ == '__main__':
    main()
