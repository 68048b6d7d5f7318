# Copyright (c) s4m-mm authors. All rights reserved.
"""FLOPs of one S4M training iteration at paper scale, part by part,
against the same student trained as a plain mean teacher (no SAM, no ARP),
with SAM on every teacher view (the paper) and with SAM in the source
frame on a warm embedding store (no encoder pass; the store's reads and
the amortised cost of filling it). Prints a table and one JSON document
(also written with ``--out``).

Counted with torch's own FLOP counter (``FlopCounterMode``, plus bilinear
resampling and the CPU's fused attention: :mod:`s4m_mm.analysis.flops`) on the
real modules of the config, built with random weights (FLOPs do not depend
on the weights):

- ``teacher``: ``QueryPseudoLabeler.raw_outputs`` of one image on the CPU, times
  the unlabeled images, and the upsampling of the selected instances'
  logits (``upsample_logits``, N a image);
- ``student``: ``student.loss`` + ``backward()`` of one labeled image with
  round(N) instances on the CPU (the loss's matching and point sampling
  included), times the labeled + unlabeled images;
- ``sam_encoder``: ``embed_images`` of one view on the meta device (shapes
  only), times the unlabeled images; 0 with the store;
- ``store_fill``: the encoder on one source image, times the unlabeled
  images of the split, over the schedule's per-GPU iterations;
- ``sam_decoder``: ``predict_best_masks`` on the CPU (the refiner's prompts,
  the chosen candidate upsampled to the view, or to the source image in the
  source frame), counted at 1 and 2 prompts: ``U x (a + N x b)``;
- ``warp``: ``warp_logits`` of the source-frame masks into the view,
  counted likewise.

``arp``, ``strong_aug``, ``optimizer`` and ``ema`` are elementwise work,
estimated (:mod:`s4m_mm.analysis.cost_model`).

Examples::

    python tools/analysis/cost_model.py       # COCO 1 %, both SAMs, minutes
    python tools/analysis/cost_model.py --labeled 6 --unlabeled 6 \\
        --sam-types vit_h --out cost.json
"""
import argparse
import functools
import gc
import time

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.runner import set_random_seed
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from s4m_mm.analysis.benchmark import (build_model, environment, load_config,
                                       sam_config, write_report)
from s4m_mm.analysis.cost_model import (amortised_fill_flops, arp_ops,
                                        cost_table, ema_flops, linear_fit,
                                        method_parts, optimizer_flops,
                                        store_entry_bytes, strong_aug_flops,
                                        total)
from s4m_mm.analysis.flops import (RESAMPLE_FLOPS, count_flops,
                                   count_flops_on_meta)
from s4m_mm.models.sam import SAM_ADAPTERS, SAMEmbeddings
from s4m_mm.models.sam.embed_store import STORE_DTYPES
from s4m_mm.models.utils.geometry import warp_logits
from s4m_mm.models.utils.pseudo_labels import upsample_logits

PAPER = 'configs/s4m/coco/s4m-student_r50_4xb6-368750iter_coco-1pct.py'
#: COCO train2017: 860,001 instances on 118,287 images
COCO_INSTANCES_PER_IMAGE = 860001 / 118287
#: COCO train2017 less the 1 % labeled split (1,183 images)
COCO_1PCT_UNLABELED = 118287 - 1183


def parse_args():
    parser = argparse.ArgumentParser(
        description='FLOPs of one S4M iteration at paper scale')
    parser.add_argument('config', nargs='?', default=PAPER)
    parser.add_argument(
        '--sam-types', nargs='+', default=['sam2_hiera_l', 'vit_h'],
        choices=list(SAM_ADAPTERS),
        help='SAMs to cost (random weights; the paper\'s is sam2_hiera_l)')
    parser.add_argument(
        '--sam-options', nargs='+', action=DictAction, default={},
        help='architecture overrides of the SAMs, e.g. img_size=64 (tests)')
    parser.add_argument('--labeled', type=int, default=None,
                        help='labeled images a GPU (default: the config\'s)')
    parser.add_argument('--unlabeled', type=int, default=None,
                        help='unlabeled images a GPU (default: the '
                        'config\'s)')
    parser.add_argument('--input-size', type=int, nargs=2, default=None,
                        metavar=('H', 'W'),
                        help='the batch input (default: the config\'s '
                        'BatchFixedSizePad)')
    parser.add_argument(
        '--instances-per-image', type=float,
        default=COCO_INSTANCES_PER_IMAGE,
        help='N, pseudo-instances a unlabeled image (default: COCO '
        'train2017\'s instances per image, 7.27)')
    parser.add_argument(
        '--source-size', type=int, nargs=2, default=(480, 640),
        metavar=('H', 'W'),
        help='the decoded source image of the source frame (default: '
        'COCO\'s most common 480 x 640)')
    parser.add_argument(
        '--unlabeled-images', type=int, default=COCO_1PCT_UNLABELED,
        help='images the store holds (default: COCO 1 %%\'s unlabeled, '
        '117,104)')
    parser.add_argument('--gpus', type=int, default=None,
                        help='GPUs of the schedule (default: '
                        'auto_scale_lr.base_batch_size / batch_size)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='also write the JSON here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


# ------------------------------------------------------------ the config


def images_per_gpu(cfg: Config):
    """``(labeled, unlabeled)`` images of a per-GPU batch: the loader's
    batch split by the sampler's ``source_ratio``."""
    loader = cfg.train_dataloader
    ratio = loader.get('sampler', {}).get('source_ratio', [1, 1])
    labeled = loader.batch_size * ratio[0] // sum(ratio)
    return labeled, loader.batch_size - labeled


def config_input_size(cfg: Config):
    """``(H, W)`` of the config's ``BatchFixedSizePad``."""
    pre = cfg.model.detector.data_preprocessor
    for augment in pre.get('batch_augments') or []:
        if augment.type == 'BatchFixedSizePad':
            return tuple(augment.size)
    raise ValueError('the config has no BatchFixedSizePad; pass '
                     '--input-size H W')


def schedule_gpus(cfg: Config) -> int:
    """GPUs of the schedule: ``auto_scale_lr.base_batch_size`` over the
    per-GPU batch (1 without ``auto_scale_lr``)."""
    base = cfg.get('auto_scale_lr', {}).get('base_batch_size')
    return max(1, base // cfg.train_dataloader.batch_size) if base else 1


def strong_aug_settings(cfg: Config) -> dict:
    """The probabilities and blur range of the config's
    ``StrongPhotometricAug`` (its defaults where the config is silent)."""
    for augment in (cfg.model.get('unsup_batch_augments') or {}).values():
        if augment and augment['type'] == 'StrongPhotometricAug':
            aug = build_model(augment)
            return dict(color_jitter_prob=aug.color_jitter_prob,
                        grayscale_prob=aug.grayscale_prob,
                        blur_prob=aug.blur_prob,
                        blur_sigma=tuple(aug.blur_sigma))
    return {}


# --------------------------------------------------------- the detector


def sample_with_instances(hw, num_instances: int) -> DetDataSample:
    """A sample of an ``hw`` batch input with ``num_instances`` rectangular
    instances of class 0 (masks, boxes), for the student's loss."""
    h, w = hw
    masks = np.zeros((num_instances, h, w), dtype=np.uint8)
    boxes = []
    for k in range(num_instances):
        y0, x0 = (k * h) // (2 * num_instances), (k * w) // (3 * num_instances)
        y1, x1 = y0 + h // 2, x0 + w // 2
        masks[k, y0:y1, x0:x1] = 1
        boxes.append([x0, y0, x1, y1])
    sample = DetDataSample(metainfo=dict(
        img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
        batch_input_shape=(h, w), scale_factor=(1., 1.)))
    sample.gt_instances = InstanceData(
        masks=BitmapMasks(masks, h, w),
        labels=torch.zeros(num_instances, dtype=torch.long),
        bboxes=torch.tensor(boxes, dtype=torch.float32))
    return sample


def teacher_forward(model):
    """The Mask2Former teacher's raw outputs of ``(image, samples)``
    (:meth:`QueryPseudoLabeler.raw_outputs` on ``model.teacher``)."""
    return functools.partial(model.pseudo_labeler.raw_outputs, model.teacher)


def teacher_flops(model, hw):
    """FLOPs of the teacher's raw outputs of one ``hw`` image, and of the
    upsampling of one selected instance's logits to ``hw``."""
    image = torch.randn(1, 3, *hw)
    sample = sample_with_instances(hw, 1)
    forward = count_flops(teacher_forward(model), image, [sample])
    _, mask_logits = forward.result
    upsample = count_flops(upsample_logits, mask_logits[0, :1], hw)
    return forward.total, upsample.total


def student_step_flops(model, hw, num_instances: int) -> int:
    """FLOPs of the student's loss and backward pass on one ``hw`` image
    with ``num_instances`` instances."""
    image = torch.randn(1, 3, *hw)
    sample = sample_with_instances(hw, num_instances)
    model.student.train()

    def step():
        losses = model.student.loss(image, [sample])
        loss, _ = model.parse_losses(losses)
        loss.backward()

    flops = count_flops(step).total
    model.student.zero_grad(set_to_none=True)
    return flops


def teacher_elements(model) -> int:
    """Elements the EMA updates: the teacher's parameters and float
    buffers."""
    return sum(p.numel() for p in model.teacher.parameters()) + sum(
        b.numel() for b in model.teacher.buffers() if b.is_floating_point())


def count_detector(cfg: Config, hw, labeled: int, unlabeled: int,
                   instances: float) -> dict:
    """The parts of the Mask2Formers (teacher, student, optimizer, EMA),
    in FLOPs for the whole per-GPU batch."""
    model_cfg = cfg.model.copy()
    model_cfg.refiner = None  # SAM is costed on its own
    model = build_model(model_cfg)
    forward, upsample = teacher_flops(model, hw)
    step = student_step_flops(model, hw, max(1, round(instances)))
    trainable = sum(p.numel() for p in model.student.parameters()
                    if p.requires_grad)
    parts = dict(
        teacher=unlabeled * (forward + instances * upsample),
        student=(labeled + unlabeled) * step,
        optimizer=optimizer_flops(trainable),
        ema=ema_flops(teacher_elements(model)))
    counts = dict(
        teacher_forward_per_image=forward,
        selected_upsample_per_instance=upsample,
        student_step_per_image=step,
        student_trainable_params=trainable,
        teacher_ema_elements=teacher_elements(model))
    return parts, counts


# ----------------------------------------------------------------- SAM


def prompts_for(refiner_cfg, num: int, hw, generator) -> dict:
    """``num`` prompts of the refiner's kind (points, box or both) in an
    ``hw`` frame."""
    h, w = hw
    prompt = refiner_cfg.get('prompt', 'points')
    out = {}
    if prompt in ('points', 'box+points'):
        k = refiner_cfg.get('num_points', 3)
        out['points'] = torch.rand(num, k, 2, generator=generator) * \
            torch.tensor([w, h])
        out['point_labels'] = torch.ones(num, k)
    if prompt in ('box', 'box+points'):
        xy = torch.rand(num, 2, generator=generator) * \
            torch.tensor([w / 2, h / 2])
        out['boxes'] = torch.cat([xy, xy + torch.tensor([w / 2, h / 2])], 1)
    return out


def decoder_flops(adapter, shapes, frame_hw, refiner_cfg, num: int,
                  generator) -> int:
    """FLOPs of ``predict_best_masks`` of ``num`` prompts on one image of
    ``frame_hw`` (random embeddings of the encoder's ``shapes``), masks
    at ``frame_hw``."""
    embeddings = SAMEmbeddings(
        torch.randn(1, *shapes[0], generator=generator), tuple(frame_hw),
        tuple(torch.randn(1, *s, generator=generator) for s in shapes[1:]))
    prompts = prompts_for(refiner_cfg, num, frame_hw, generator)
    return count_flops(adapter.predict_best_masks, embeddings,
                       torch.zeros(num, dtype=torch.long),
                       out_size=tuple(frame_hw), **prompts).total


def warp_flops(source_hw, view_hw, num: int) -> int:
    """FLOPs of ``warp_logits`` of ``num`` source-frame logit maps into
    the view (a resize of the source's long side to the view's)."""
    scale = max(view_hw) / max(source_hw)
    matrix = np.diag([scale, scale, 1.0])
    return count_flops(warp_logits, torch.zeros(num, *source_hw), matrix,
                       tuple(view_hw)).total


def encoder_flops(adapter, hw):
    """FLOPs of ``embed_images`` of one ``hw`` image on the meta device,
    and the shapes of its outputs (no batch dim)."""
    image = torch.empty(1, 3, *hw, device='meta')
    counted = count_flops_on_meta(adapter.sam, adapter.embed_images, image)
    embeddings = counted.result
    shapes = [tuple(t.shape[1:])
              for t in (embeddings.image, *embeddings.high_res)]
    return counted.total, shapes


def count_sam(sam_type, args, cfg, hw, unlabeled, instances, iterations,
              gpus) -> dict:
    """The SAM parts of one SAM, for the whole per-GPU batch, and the
    counts they come from."""
    refiner_cfg = cfg.model.get('refiner') or {}
    source_hw = tuple(args.source_size)
    adapter = build_model(sam_config(sam_type, **args.sam_options))
    generator = torch.Generator().manual_seed(args.seed)
    view_encoder, shapes = encoder_flops(adapter, hw)
    source_encoder, _ = encoder_flops(adapter, source_hw)
    view = linear_fit(*(decoder_flops(adapter, shapes, hw, refiner_cfg, n,
                                      generator) for n in (1, 2)))
    source = linear_fit(*(decoder_flops(adapter, shapes, source_hw,
                                        refiner_cfg, n, generator)
                          for n in (1, 2)))
    warp = linear_fit(*(warp_flops(source_hw, hw, n) for n in (1, 2)))
    dtype = (refiner_cfg.get('store') or {}).get('dtype', 'float16')
    entry = store_entry_bytes(shapes, STORE_DTYPES[dtype].itemsize)
    per_image = dict(
        encoder=view_encoder,
        decoder_view=view[0] + instances * view[1],
        decoder_source=source[0] + instances * source[1],
        warp=warp[0] + instances * warp[1])
    parts = {k: unlabeled * v for k, v in per_image.items()}
    parts['store_fill'] = amortised_fill_flops(
        source_encoder, args.unlabeled_images, iterations, gpus)
    return parts, dict(
        sam_type=sam_type,
        weights='random',
        sam_input_size=adapter.img_size,
        encoder_outputs=[list(s) for s in shapes],
        encoder_gflops_per_view=view_encoder / 1e9,
        encoder_gflops_per_source_image=source_encoder / 1e9,
        decoder_view_gflops=dict(per_image=view[0] / 1e9,
                                 per_prompt=view[1] / 1e9),
        decoder_source_gflops=dict(per_image=source[0] / 1e9,
                                   per_prompt=source[1] / 1e9),
        warp_gflops=dict(per_image=warp[0] / 1e9, per_mask=warp[1] / 1e9),
        store_dtype=dtype,
        store_bytes_per_image=entry,
        store_bytes_per_iteration=unlabeled * entry)


# -------------------------------------------------------------- report


def notes(report: dict) -> str:
    """The lines under the table: the batch, and each SAM's formulas and
    store reads."""
    it = report['iteration']
    u = it['unlabeled']
    lines = [
        f'per GPU: {it["labeled"]} labeled + {u} unlabeled images at '
        f'{it["input_size"][0]} x {it["input_size"][1]}, random weights;',
        f'N = {it["instances_per_image"]:.2f} pseudo-instances an image, '
        f'source images {it["source_size"][0]} x {it["source_size"][1]}'
    ]
    for sam in report['sams'].values():
        dv, ds, wp = (sam['decoder_view_gflops'],
                      sam['decoder_source_gflops'], sam['warp_gflops'])
        entry = sam['store_bytes_per_image'] / 2**20
        lines += [
            f'{sam["sam_type"]}: encoder '
            f'{sam["encoder_gflops_per_view"]:.1f} GFLOPs a view, none with '
            'the store',
            f'  decoder per view   {u} x ({dv["per_image"]:.3f} + N x '
            f'{dv["per_prompt"]:.3f})',
            f'  decoder in source  {u} x ({ds["per_image"]:.3f} + N x '
            f'{ds["per_prompt"]:.3f}), warp {u} x ({wp["per_image"]:.3f} + '
            f'N x {wp["per_mask"]:.3f})',
            f'  store reads        {u} x {entry:.2f} MiB = {u * entry:.2f} '
            f'MiB an iteration ({sam["store_dtype"]})',
            f'  store fill         {it["unlabeled_images"]} images once, '
            f'over {it["iterations"]} x {it["gpus"]} GPU iterations'
        ]
    return '\n'.join(lines)


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    if cfg.model.get('type') != 'S4M':
        raise ValueError(f'{args.config} is not an S4M student config '
                         f'(model.type is {cfg.model.get("type")!r})')
    torch.set_grad_enabled(True)
    set_random_seed(args.seed)
    labeled, unlabeled = images_per_gpu(cfg)
    labeled = labeled if args.labeled is None else args.labeled
    unlabeled = unlabeled if args.unlabeled is None else args.unlabeled
    hw = tuple(args.input_size or config_input_size(cfg))
    instances = args.instances_per_image
    iterations = cfg.train_cfg.max_iters
    gpus = args.gpus or schedule_gpus(cfg)

    start = time.perf_counter()
    shared, counts = count_detector(cfg, hw, labeled, unlabeled, instances)
    gc.collect()
    shared['strong_aug'] = strong_aug_flops(unlabeled, hw,
                                            **strong_aug_settings(cfg))
    shared['arp'] = arp_ops(unlabeled, hw, instances)
    mean_teacher = method_parts(shared)
    report = dict(
        config=args.config,
        **environment('cpu'),
        iteration=dict(
            labeled=labeled, unlabeled=unlabeled, input_size=list(hw),
            instances_per_image=instances,
            source_size=list(args.source_size),
            unlabeled_images=args.unlabeled_images,
            iterations=iterations, gpus=gpus),
        counted=('FlopCounterMode (mm, conv, attention) + bilinear '
                 f'resampling ({RESAMPLE_FLOPS} FLOPs a value); Mask2Former '
                 'on one CPU image times the batch, SAM encoders on the '
                 'meta device, SAM decoders and the warp on the CPU; arp, '
                 'strong_aug, optimizer and ema estimated'),
        detector=counts,
        mean_teacher=dict(parts=mean_teacher, total=total(mean_teacher)),
        sams={})
    columns = [('mean teacher', '', mean_teacher)]
    for sam_type in args.sam_types:
        sam_parts, sam_info = count_sam(sam_type, args, cfg, hw, unlabeled,
                                        instances, iterations, gpus)
        gc.collect()
        for frame, subtitle in (('view', 'per view'), ('store', 'store')):
            parts = method_parts(shared, sam_parts, frame)
            sam_info[f's4m_{frame}'] = dict(
                parts=parts, total=total(parts),
                over_mean_teacher=total(parts) / total(mean_teacher))
            columns.append((sam_type, subtitle, parts))
        report['sams'][sam_type] = sam_info
    report['seconds'] = time.perf_counter() - start
    print(cost_table(columns, mean_teacher))
    print(notes(report))
    write_report(report, args.out)


if __name__ == '__main__':
    main()
