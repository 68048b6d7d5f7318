# Copyright (c) s4m-mm authors. All rights reserved.
"""Cost of one S4M stage-2 training iteration, part by part, against the
same student trained as a plain mean teacher (no SAM, no ARP), and of SAM
refinement batched against one image at a time.

Prints a table and one JSON document (also written with ``--out``).

Each method runs in its own process (so its peak memory is its own) on
real batches of the config's ``train_dataloader`` and goes through the same
calls as :meth:`S4M.loss`, timed one by one:

- ``data``: fetching the batch and the data preprocessor;
- ``teacher``: the teacher's forward and the pseudo-label selection;
- ``sam_encoder`` / ``sam_decoder``: SAM refinement (S4M only);
- ``arp``: the pseudo-label mix (S4M only);
- ``strong_aug``: the strong photometric augmentation;
- ``student``: the student's supervised and unsupervised forward,
  backward and optimizer step;
- ``ema``: the teacher's EMA update.

With the refiner in the source frame, every unlabeled image is first
encoded into its store (reported as ``store_first_pass``), so the timed
iterations are the store's steady state (``--cold-store`` times an empty
store instead).

The mean teacher is the S4M config without ``refiner`` and without ARP
(``AdaptiveRandomPaste`` left out of ``model.unsup_batch_augments``, the
strong photometric augmentation kept).
``step_s`` times the real ``model.train_step`` on the same batches, as a
check that the parts add up. Without ``--teacher-checkpoint`` the teacher
is the config's ``TeacherScheduleHook.teacher_checkpoint`` when that file
exists, else random (``"teacher_weights": "random"``; pass
``--score-thr 0`` so that a random teacher still yields pseudo-instances).
``--sam-type vit_*`` without ``--sam-checkpoint`` times SAM with random
weights (``"sam_weights": "random"``), which cost the same as real ones.

Examples::

    python tools/analysis/benchmark_iteration.py   # demo student, CPU
    python tools/analysis/benchmark_iteration.py \\
        configs/s4m/coco/s4m-student_r50_4xb6-368750iter_coco-1pct.py \\
        --device cuda --sam-type vit_h --sam-checkpoint sam_vit_h.pth
"""
import argparse
import copy
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner, set_random_seed

from mmdet.registry import DATASETS
from s4m_mm.analysis.benchmark import (PartTimer, build_model,
                                       build_optim_wrapper_for, environment,
                                       load_config, load_teacher,
                                       peak_memory_mb, resolve_device,
                                       sam_config, teacher_checkpoint,
                                       time_once, write_report)
from s4m_mm.models.sam import SAM_ADAPTERS

DEMO = 'configs/s4m/demo/s4m-student_effl0_nuclei.py'
METHODS = ('s4m', 'mean_teacher')
PARTS = ('data', 'teacher', 'sam_encoder', 'sam_decoder', 'arp',
         'strong_aug', 'student', 'ema')


def parse_args():
    parser = argparse.ArgumentParser(
        description='Benchmark one S4M training iteration')
    parser.add_argument(
        'configs', nargs='*', default=[DEMO], metavar='config',
        help='S4M student configs; several (e.g. one per student '
        'architecture) are timed one after the other in one run and '
        'compared side by side')
    parser.add_argument('--teacher-checkpoint', default=None)
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--sam-type',
        default=None,
        choices=list(SAM_ADAPTERS),
        help='replace the refiner\'s SAM (random weights without '
        '--sam-checkpoint, LiteMedSAM excepted)')
    parser.add_argument('--sam-checkpoint', default=None)
    parser.add_argument('--sam-autocast', default=None,
                        choices=['bfloat16', 'float16', 'auto', 'none'])
    parser.add_argument(
        '--keep-embed-cache', action='store_true',
        help='keep the config\'s SAM embed_cache_size (by default '
        'it is set to 0, so that every iteration pays for its encoder '
        'passes, as in the paper, and the batched / per-image comparison '
        'is not decided by cache hits)')
    parser.add_argument(
        '--frame', choices=['view', 'source'], default=None,
        help='override the refiner\'s frame (source: SAM embeddings of '
        'the source images from a SAMEmbeddingStore, warm after the first '
        'pass; --store-dir puts it on disk)')
    parser.add_argument('--store-dir', default=None,
                        help='disk_dir of the store with --frame source')
    parser.add_argument('--score-thr', type=float, default=None,
                        help='override semi_train_cfg.score_thr')
    parser.add_argument(
        '--cold-store', action='store_true',
        help="with the refiner in the source frame, time the iterations "
        'on an empty store (default: every unlabeled image is encoded '
        'into it first, timed as the first pass, and the iterations are '
        'its steady state)')
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--out', help='also write the JSON here')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, as in tools/train.py')
    parser.add_argument('--method', choices=METHODS,
                        help=argparse.SUPPRESS)  # one method, in-process
    args = parser.parse_args()
    if args.method is not None and len(args.configs) != 1:
        parser.error('--method times one config')
    if len(args.configs) > 1 and args.teacher_checkpoint is not None:
        parser.error('--teacher-checkpoint names the teacher of one '
                     'config; with several, each config\'s own is used')
    args.config = args.configs[0]
    return args


# ----------------------------------------------------------------- setup


def benchmark_config(args) -> Config:
    """The config with the command line's overrides applied."""
    cfg = load_config(args.config, args.cfg_options)
    if cfg.model.get('type') != 'S4M':
        raise ValueError(f'{args.config} is not an S4M student config '
                         f'(model.type is {cfg.model.get("type")!r})')
    sam = cfg.model.refiner.sam
    if args.sam_type is not None:
        keep = {k: sam[k] for k in ('autocast_dtype', 'embed_cache_size')
                if k in sam}
        cfg.model.refiner.sam = sam_config(args.sam_type,
                                           args.sam_checkpoint, **keep)
        sam = cfg.model.refiner.sam
    if args.sam_autocast:
        sam.autocast_dtype = None if args.sam_autocast == 'none' \
            else args.sam_autocast
    if not args.keep_embed_cache:
        sam.embed_cache_size = 0
    if args.frame is not None:
        cfg.model.refiner.frame = args.frame
        if args.frame == 'view':
            cfg.model.refiner.pop('store', None)
            cfg.model.refiner.pop('source_loader', None)
    if args.store_dir is not None:
        cfg.model.refiner.store = dict(
            cfg.model.refiner.get('store') or {}, disk_dir=args.store_dir)
    if args.score_thr is not None:
        cfg.model.semi_train_cfg.score_thr = args.score_thr
    return cfg


def as_mean_teacher(cfg: Config) -> Config:
    """The same student as a plain mean teacher: no SAM, no ARP."""
    cfg = copy.deepcopy(cfg)
    cfg.model.refiner = None
    cfg.model.unsup_batch_augments = {
        name: augment
        for name, augment in cfg.model.unsup_batch_augments.items()
        if augment and augment['type'] != 'AdaptiveRandomPaste'
    }
    return cfg


def build_model_and_optimizer(cfg: Config, checkpoint, device):
    """The S4M of ``cfg`` with the teacher of ``checkpoint`` (random when
    ``None``) on ``device`` in train mode, and its optimizer wrapper."""
    model = build_model(cfg.model)
    load_teacher(model, checkpoint, allow_random=True)
    model.to(device)
    model.train()
    return model, build_optim_wrapper_for(model, cfg.optim_wrapper, device)


# ---------------------------------------------------------------- timing


def augment_part(augment):
    """The timer's part of an unlabeled batch augment: ``'arp'`` for
    ARP, ``'strong_aug'`` for the others (the photometric one)."""
    from s4m_mm.models.data_preprocessors import AdaptiveRandomPaste
    return 'arp' if isinstance(augment, AdaptiveRandomPaste) \
        else 'strong_aug'


def timed_iteration(model, optim_wrapper, batches, device):
    """One iteration through the calls of ``S4M.loss``, part by part.

    Returns:
        tuple[dict, int]: seconds per part and the pseudo-instances kept.
    """
    from s4m_mm.models.utils import ema_update
    timer = PartTimer(device)
    with timer('data'):
        data = model.data_preprocessor(next(batches), True)
    inputs, samples = data['inputs'], data['data_samples']
    with timer('teacher'):
        instances = model.select_teacher_instances(
            inputs['unsup_teacher'], samples['unsup_teacher'])
    refiner = model.refiner
    if refiner is not None and refiner.frame == 'source':
        # the encoder part: the store's look-ups and the misses' encoding;
        # the decoder part looks the (now remembered) embeddings up again
        view_samples = samples['unsup_teacher']
        with timer('sam_encoder'):
            refiner.predictor.source_embeddings(view_samples,
                                                inputs['sup'].device)
        with timer('sam_decoder'):
            instances, _ = refiner.refine_in_source_frame(
                instances, view_samples, inputs['unsup_teacher'].shape[-2:])
    elif refiner is not None:
        images = model.denormalize(inputs['unsup_teacher'])
        with timer('sam_encoder'):
            embeddings = refiner.embed(images)
        with timer('sam_decoder'):
            instances, _ = refiner.refine_embedded(embeddings, instances)
    num_pseudo = sum(len(inst) for inst in instances)
    teacher_samples = model.as_pseudo_samples(samples['unsup_teacher'],
                                              instances)
    student_samples = model.project_pseudo_instances(
        teacher_samples, samples['unsup_student'])
    images = model.denormalize(inputs['unsup_student'])
    for augment in model.unsup_batch_augments.values():
        with timer(augment_part(augment)):
            images, student_samples = augment(images, student_samples)
    unsup_inputs = model.normalize(images)
    student_samples = model.add_boxes_from_masks(student_samples)
    with timer('student'):
        with optim_wrapper.optim_context(model):
            losses = model.loss_by_gt_instances(inputs['sup'],
                                                samples['sup'])
            losses.update(
                model.loss_by_pseudo_instances(unsup_inputs,
                                               student_samples))
        loss, _ = model.parse_losses(losses)
        optim_wrapper.update_params(loss)
    with timer('ema'):
        ema_update(model.teacher, model.student, 0.9996)
    return timer.seconds, num_pseudo


def timed_train_step(model, optim_wrapper, batches, device):
    wall, _ = time_once(
        lambda: model.train_step(next(batches), optim_wrapper), device)
    return wall


def rotation(names: Sequence[str], it: int) -> List[str]:
    """The order of the timed paths on the ``it``-th batch: ``names``
    rotated by ``it``, so that over ``len(names)`` batches every path is
    timed in every position once (a path always timed first, right after
    the teacher's inference, or always after another refinement, would
    carry that position's cache state in its figure)."""
    k = it % len(names)
    return list(names[k:]) + list(names[:k])


def paired_ratio(num: Sequence[float], den: Sequence[float]) -> float:
    """Median over batches of ``num[i] / den[i]``: each ratio compares two
    timings of the same batch, taken back to back."""
    return statistics.median(a / b for a, b in zip(num, den))


def refinement_batched_vs_per_image(model, batches, device, iters):
    """Median seconds of SAM refinement of one unlabeled batch: batched (one
    encoder pass for the batch, one decoder call for all instances) and one
    image at a time (encoder and decoder per image), on the same batches.

    On every batch an untimed batched refinement goes first (so every timed
    path follows a refinement of that batch, never the teacher's
    inference), then the paths are timed in the order :func:`rotation`
    gives; wall and process CPU seconds are both reported, with the median
    of the per-batch ratios. For a SAM 1 decoder, ``repeated_decoder`` is
    the batched refinement through ``segment_anything``'s own decoder
    forward, which copies the image embedding once per prompt
    (``shared_image_decoder=False``).
    """
    sam = model.refiner.predictor.adapter

    def batched(images, instances, samples):
        model.refiner(images, instances, data_samples=samples)

    def per_image(images, instances, samples):
        for i, inst in enumerate(instances):
            model.refiner(images[i:i + 1], [inst],
                          data_samples=samples[i:i + 1])

    def repeated_decoder(images, instances, samples):
        sam.shared_image_decoder = False
        try:
            batched(images, instances, samples)
        finally:
            sam.shared_image_decoder = True

    runs = dict(batched=batched, per_image=per_image)
    if getattr(sam, 'shared_image_decoder', False):
        runs['repeated_decoder'] = repeated_decoder
    times = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    counts = []
    for it in range(iters):
        data = model.data_preprocessor(next(batches), True)
        inputs = data['inputs']['unsup_teacher']
        samples = data['data_samples']['unsup_teacher']
        instances = model.select_teacher_instances(inputs, samples)
        images = model.denormalize(inputs)
        counts.append(sum(len(inst) for inst in instances))
        batched(images, instances, samples)  # untimed: the same start
        for name in rotation(list(runs), it):
            wall, cpu_s = time_once(
                lambda: runs[name](images, instances, samples), device)
            times[name].append(wall)
            cpu[name].append(cpu_s)
    median = {k: statistics.median(v) for k, v in times.items()}
    median_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    repeated = {} if 'repeated_decoder' not in median else dict(
        repeated_decoder_s=median['repeated_decoder'],
        repeated_decoder_cpu_s=median_cpu['repeated_decoder'],
        repeated_over_shared=paired_ratio(times['repeated_decoder'],
                                          times['batched']))
    return dict(
        **repeated,
        batches=iters,
        pseudo_instances_per_batch=statistics.mean(counts),
        batched_s=median['batched'],
        per_image_s=median['per_image'],
        batched_cpu_s=median_cpu['batched'],
        per_image_cpu_s=median_cpu['per_image'],
        per_image_over_batched=paired_ratio(times['per_image'],
                                            times['batched']),
        per_image_over_batched_cpu=paired_ratio(cpu['per_image'],
                                                cpu['batched']),
        batched_not_slower=sum(
            b <= p for b, p in zip(times['batched'], times['per_image'])))


def run_method(args) -> dict:
    """Benchmark one method in this process."""
    cfg = benchmark_config(args)
    if args.method == 'mean_teacher':
        cfg = as_mean_teacher(cfg)
    device = resolve_device(args.device)
    checkpoint = teacher_checkpoint(cfg, args.teacher_checkpoint)
    # every generator: the model's init (torch) and the pipeline's flips
    # (numpy, in the main process with num_workers=0) draw the same values
    # in every run and in both methods
    set_random_seed(0)
    model, optim_wrapper = build_model_and_optimizer(cfg, checkpoint,
                                                     device)
    model.refine_enabled = model.refiner is not None
    first_pass = None
    if model.refiner is not None and model.refiner.frame == 'source' \
            and not args.cold_store:
        first_pass = fill_store(model.refiner, cfg, device)
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    batches = iter(loader)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)

    parts, steps, pseudo = [], [], []
    for i in range(args.warmup + args.iters):
        seconds, num = timed_iteration(model, optim_wrapper, batches,
                                       device)
        if i >= args.warmup:
            parts.append(seconds)
            pseudo.append(num)
    for i in range(args.warmup + args.iters):
        seconds = timed_train_step(model, optim_wrapper, batches, device)
        if i >= args.warmup:
            steps.append(seconds)
    result = dict(
        parts_s={
            name: statistics.median([p.get(name, 0.0) for p in parts])
            for name in PARTS
        },
        step_s=statistics.median(steps),
        pseudo_instances_per_batch=statistics.mean(pseudo),
        peak_memory_mb=peak_memory_mb(device),
        teacher_weights='random' if checkpoint is None else checkpoint)
    result['sum_of_parts_s'] = sum(result['parts_s'].values())
    if model.refiner is not None:
        sam, store = model.refiner.predictor.adapter, \
            model.refiner.predictor.store
        result['sam'] = dict(
            frame=model.refiner.frame,
            store=None if store is None else dict(store.stats),
            sam_type=sam.sam_type,
            weights='random' if sam.checkpoint is None else 'real',
            autocast=sam.autocast_dtype,
            autocast_on_device=sam.autocast_dtype_on(device),
            decoder_dtype=sam.decoder_dtype,
            decoder_dtype_on_device=decoder_dtype_on(sam, device),
            embed_cache_size=0 if sam.embed_cache is None else
            sam.embed_cache.max_items)
        result['refinement'] = refinement_batched_vs_per_image(
            model, batches, device, args.iters)
    if first_pass is not None:
        result['store_first_pass'] = first_pass
    return result


def decoder_dtype_on(sam, device) -> Optional[str]:
    """The type SAM's mask decoder is cast to on ``device`` (the
    adapter's ``decoder_dtype``), e.g. ``'bfloat16'``; ``None``: not cast
    (it runs under the adapter's autocast)."""
    dtype = sam.decoder_dtype_on(device)
    return None if dtype is None else str(dtype).replace('torch.', '')


def fill_store(refiner, cfg: Config, device) -> dict:
    """Encode every unlabeled image of the config into the refiner's
    source-frame store before timing (the first pass over the data), so
    that the timed iterations are the store's steady state; returns the
    first pass's seconds."""
    from mmengine.structures import BaseDataElement
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset.datasets[1])
    ds_cfg['pipeline'] = []
    dataset = DATASETS.build(ds_cfg)
    samples = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        hw = (info['height'], info['width'])
        samples.append(BaseDataElement(metainfo=dict(
            img_path=info['img_path'], ori_shape=hw, img_shape=hw,
            homography_matrix=np.eye(3))))
    start = time.perf_counter()
    for i in range(0, len(samples), 4):
        refiner.predictor.source_embeddings(samples[i:i + 4], device)
    seconds = time.perf_counter() - start
    return dict(images=len(samples), seconds=seconds,
                seconds_per_image=seconds / max(len(samples), 1))


# ---------------------------------------------------------------- report


def run_in_subprocess(method: str, config: str,
                      configs: Sequence[str]) -> dict:
    """One method on one ``config`` in a process of its own, with this
    call's options (the other ``configs`` left out)."""
    argv = [a for a in sys.argv[1:] if a not in configs]
    out = subprocess.run(
        [sys.executable, osp.abspath(__file__), config, *argv, '--method',
         method],
        capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f'benchmark of {method} failed:\n'
                           f'{out.stderr[-4000:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(report: dict) -> str:
    s4m, mt = report['s4m'], report['mean_teacher']
    lines = [f'{"part (s)":<16}{"S4M":>10}{"mean teacher":>14}']
    for name in PARTS:
        lines.append(f'{name:<16}{s4m["parts_s"][name]:>10.3f}'
                     f'{mt["parts_s"][name]:>14.3f}')
    for key, label in (('sum_of_parts_s', 'sum of parts'),
                       ('step_s', 'train_step'),
                       ('peak_memory_mb', 'peak mem (MiB)')):
        lines.append(f'{label:<16}{s4m[key]:>10.3f}{mt[key]:>14.3f}')
    lines.append(f'S4M / mean teacher (train_step): '
                 f'{report["s4m_over_mean_teacher"]:.2f}')
    first = s4m.get('store_first_pass')
    if first is not None:
        lines.append(f'first pass: {first["images"]} unlabeled images into '
                     f'the store in {first["seconds"]:.1f} s '
                     f'({first["seconds_per_image"]:.3f} s an image); the '
                     'iterations above are its steady state')
    ref = s4m['refinement']
    count = ref['pseudo_instances_per_batch']
    lines.append(f'SAM refinement of a batch ({count:.1f} instances): '
                 'batched '
                 f'{ref["batched_s"]:.3f} s, one image at a time '
                 f'{ref["per_image_s"]:.3f} s '
                 f'(x{ref["per_image_over_batched"]:.2f}; CPU seconds '
                 f'{ref["batched_cpu_s"]:.3f} / {ref["per_image_cpu_s"]:.3f}'
                 f', x{ref["per_image_over_batched_cpu"]:.2f}; medians of '
                 f'the per-batch ratios); batched not slower on '
                 f'{ref["batched_not_slower"]} of {ref["batches"]} batches')
    if 'repeated_decoder_s' in ref:
        lines.append('the same through segment_anything\'s decoder forward '
                     '(the image embedding copied per prompt): '
                     f'{ref["repeated_decoder_s"]:.3f} s '
                     f'(x{ref["repeated_over_shared"]:.2f})')
    return '\n'.join(lines)


def side_by_side(reports: Sequence[dict]) -> str:
    """One line per config of one run: its student, the train_step of S4M
    and of its mean teacher (s) and their ratio."""
    lines = [f'{"student":<14}{"S4M (s)":>10}{"mean teacher (s)":>18}'
             f'{"S4M / mean teacher":>20}']
    for r in reports:
        lines.append(f'{r["student"]:<14}{r["s4m"]["step_s"]:>10.3f}'
                     f'{r["mean_teacher"]["step_s"]:>18.3f}'
                     f'{r["s4m_over_mean_teacher"]:>20.2f}')
    return '\n'.join(lines)


def main():
    args = parse_args()
    if args.method is not None:
        print(json.dumps(run_method(args)))
        return
    os.environ.setdefault('OMP_NUM_THREADS', str(torch.get_num_threads()))
    reports = []
    for config in args.configs:
        report = dict(
            config=config,
            student=Config.fromfile(config).model.detector.type,
            **environment(args.device),
            statistic=f'median of {args.iters} iterations after '
            f'{args.warmup} warm-up',
            **{method: run_in_subprocess(method, config, args.configs)
               for method in METHODS})
        report['s4m_over_mean_teacher'] = (
            report['s4m']['step_s'] / report['mean_teacher']['step_s'])
        print(f'{config} ({report["student"]})')
        print(table(report))
        reports.append(report)
    if len(reports) == 1:
        write_report(reports[0], args.out)
        return
    print(side_by_side(reports))
    write_report(dict(runs=reports), args.out)


if __name__ == '__main__':
    main()
