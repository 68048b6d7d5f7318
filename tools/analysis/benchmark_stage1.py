# Copyright (c) s4m-mm authors. All rights reserved.
"""Cost of S4M stage 1: a training step of the teacher with and without SAM
structural distillation, and SAM's share of it. Prints one JSON document.

Synthetic batches (random pixels, three rectangular instances an image) of
the config's input size go through ``model.train_step`` with the config's
optimizer. ``--sam-type`` (SAM 1 ``vit_*`` or SAM 2 ``sam2*_hiera_*``)
without ``--sam-checkpoint`` uses random weights, which time the same as
real ones; the output says ``"sam_weights": "random"``.

Examples::

    python tools/analysis/benchmark_stage1.py            # demo config, CPU
    python tools/analysis/benchmark_stage1.py --sam-type vit_b --iters 3
    python tools/analysis/benchmark_stage1.py \\
        configs/s4m/coco/s4m-teacher_r50_2xb8-368750iter_coco-1pct.py \\
        --device cuda --sam-type sam2_hiera_l --sam-checkpoint \\
        sam2_hiera_large.pt
"""
import argparse
import copy
import os.path as osp
import tempfile

import mmcv
import numpy as np
import torch
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from s4m_mm.analysis.benchmark import (build_model, build_optim_wrapper_for,
                                       environment, load_config,
                                       resolve_device, sam_config, sam_weights,
                                       timed, write_report)
from s4m_mm.models.sam import SAM_ADAPTERS

DEMO = 'configs/s4m/demo/s4m-teacher_effl0_nuclei.py'


def parse_args():
    parser = argparse.ArgumentParser(description='Benchmark stage 1')
    parser.add_argument('config', nargs='?', default=DEMO)
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--sam-type',
        default=None,
        choices=list(SAM_ADAPTERS),
        help='replace the config\'s SAM')
    parser.add_argument('--sam-checkpoint', default=None)
    parser.add_argument('--sam-autocast', default=None,
                        choices=['bfloat16', 'float16', 'auto'])
    parser.add_argument('--num-points', type=int, default=None,
                        help='P per image (default: the config\'s)')
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument(
        '--sd-frame', choices=['view', 'source', 'bank'], default=None,
        help="where SAM's targets come from (default: the config's): "
        "'view' encodes each batch; 'source' encodes each image once and "
        "prompts its points every step; 'bank' reads them from an "
        'SDTargetBank (--bank-stride) computed once per image. The warm-up '
        'steps fill the store / bank, so the figures are its steady state; '
        'the first step is reported apart')
    parser.add_argument('--bank-stride', type=int, default=2)
    return parser.parse_args()


def input_size(cfg):
    for aug in cfg.model.data_preprocessor.get('batch_augments') or []:
        if aug.type == 'BatchFixedSizePad':
            return tuple(aug.size)
    return (512, 512)


def synthetic_batch(n, size, seed=0, image_dir=None):
    """``n`` random images of ``size`` with three box-shaped instances;
    with ``image_dir`` also written there as PNG files (what the source
    frame reads), with their ``img_path`` and an identity
    ``homography_matrix``."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(torch.randint(0, 256, (3, h, w), generator=g,
                                    dtype=torch.uint8))
        masks = torch.zeros(3, h, w, dtype=torch.uint8)
        boxes = []
        for k in range(3):
            x0 = int(torch.randint(0, w // 2, (1, ), generator=g))
            y0 = int(torch.randint(0, h // 2, (1, ), generator=g))
            x1, y1 = x0 + w // 4, y0 + h // 4
            masks[k, y0:y1, x0:x1] = 1
            boxes.append([x0, y0, x1, y1])
        meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                    scale_factor=(1., 1.))
        if image_dir is not None:
            path = osp.join(image_dir, f'{len(samples)}.png')
            mmcv.imwrite(inputs[-1].permute(1, 2, 0).numpy()[..., ::-1],
                         path)
            meta.update(img_path=path, homography_matrix=np.eye(3))
        s = DetDataSample(metainfo=meta)
        s.gt_instances = InstanceData(
            masks=BitmapMasks(masks.numpy(), h, w),
            labels=torch.zeros(3, dtype=torch.long),
            bboxes=torch.tensor(boxes, dtype=torch.float32))
        samples.append(s)
    return {'inputs': inputs, 'data_samples': samples}


def plain_model_cfg(model_cfg):
    """The same Mask2Former without SD (what the checkpoint loads into)."""
    cfg = copy.deepcopy(model_cfg)
    cfg.type = 'Mask2Former'
    for key in ('sam', 'sd_chunk', 'sd_frame', 'sd_store', 'source_loader',
                'sd_bank'):
        cfg.pop(key, None)
    cfg.panoptic_head.type = 'Mask2FormerHead'
    for key in ('num_sd_points', 'sd_fg_ratio', 'loss_sd'):
        cfg.panoptic_head.pop(key, None)
    return cfg


def step_time(model_cfg, optim_cfg, data, device, iters, warmup,
              first=False):
    """``(model, median seconds of model.train_step, seconds of its first
    step or None)`` of the model of ``model_cfg`` (one parameter group: no
    ``paramwise_cfg``); ``first`` times the first step alone (it fills a
    source-frame store or an SD target bank)."""
    model = build_model(model_cfg, device)
    model.train()
    wrapper = build_optim_wrapper_for(model, optim_cfg, device,
                                      paramwise=False)
    first_s = None
    if first:
        first_s = timed(lambda: model.train_step(data, wrapper), device, 1,
                        0).median
    seconds = timed(lambda: model.train_step(data, wrapper), device, iters,
                    warmup).median
    return model, seconds, first_s


def main():
    args = parse_args()
    cfg = load_config(args.config)
    device = resolve_device(args.device)
    if args.sam_type is not None:
        cfg.model.sam = sam_config(args.sam_type, args.sam_checkpoint)
    if args.sam_autocast:
        cfg.model.sam.autocast_dtype = args.sam_autocast
    if args.num_points:
        cfg.model.panoptic_head.num_sd_points = args.num_points
    if 'backbone' in cfg.model and 'checkpoint' in cfg.model.backbone:
        cfg.model.backbone.checkpoint = None  # timing only
    cfg.model.backbone.pop('init_cfg', None)
    if args.sd_frame is not None:
        for key in ('sd_store', 'source_loader', 'sd_bank'):
            cfg.model.pop(key, None)
        cfg.model.sd_frame = 'view' if args.sd_frame == 'view' else 'source'
        if args.sd_frame == 'bank':
            cfg.model.sd_bank = dict(stride=args.bank_stride)
    size = input_size(cfg)
    image_dir = tempfile.mkdtemp(prefix='s4m_stage1_') \
        if cfg.model.get('sd_frame', 'view') == 'source' else None
    data = synthetic_batch(args.batch, size, image_dir=image_dir)

    plain, t_plain, _ = step_time(plain_model_cfg(cfg.model),
                                  cfg.optim_wrapper, data, device,
                                  args.iters, args.warmup)
    del plain
    teacher, t_sd, t_first = step_time(cfg.model, cfg.optim_wrapper, data,
                                       device, args.iters, args.warmup,
                                       first=True)

    sam = teacher.predictor.adapter
    frame = 'bank' if teacher.predictor.bank is not None else \
        teacher.sd_frame
    batch = teacher.data_preprocessor(data, True)
    rgb = teacher.input_rgb(batch['inputs'])
    t_encoder = timed(lambda: sam.embed_images(rgb), device, args.iters,
                      1).median
    embeddings = sam.embed_images(rgb)
    points = teacher.panoptic_head.sample_sd_points(batch['data_samples'],
                                                    device)
    flat = points.reshape(-1, 2)
    index = torch.arange(args.batch, device=device).repeat_interleave(
        points.shape[1])
    t_decoder = timed(
        lambda: sam.point_features(embeddings, flat, index), device,
        args.iters, 1).median
    t_targets = timed(lambda: teacher.sam_targets(batch['inputs'],
                                                  batch['data_samples']),
                      device, args.iters, 1).median
    write_report({
        'config': args.config,
        **environment(device),
        'batch': args.batch,
        'input_size': list(size),
        'sam_type': sam.sam_type,
        'sam_weights': sam_weights(sam),
        'sam_autocast': sam.autocast_dtype,
        'sam_autocast_on_device': sam.autocast_dtype_on(device),
        'num_sd_points_per_image': teacher.panoptic_head.num_sd_points,
        'sd_frame': frame,
        'bank_stride': args.bank_stride if frame == 'bank' else None,
        'first_step_with_sd_s': round(t_first, 4),
        'statistic': f'median seconds of {args.iters} runs',
        'step_without_sd_s': round(t_plain, 4),
        'step_with_sd_s': round(t_sd, 4),
        'sd_overhead_ratio': round(t_sd / t_plain, 3),
        'sam_targets_s_per_step': round(t_targets, 4),
        'sam_encoder_s_per_image': round(t_encoder / args.batch, 4),
        'sam_point_features_s_per_prompt': round(t_decoder / flat.shape[0],
                                                 5),
    })


if __name__ == '__main__':
    main()
