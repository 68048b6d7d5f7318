# Copyright (c) s4m-mm authors. All rights reserved.
"""How close SAM in the source frame comes to SAM on each view.

Two measurements, side by side, with the config's own SAM:

``sd`` (a stage-1 config): for each labeled image and each kind of
view (``flip``, ``scale`` 0.8 / 1.25, ``crop`` of a x1.25 view), the SD
targets ``C_SAM`` of the same query points computed on the view (the
paper), from the source frame (``sd_frame='source'``) and from an
``SDTargetBank`` (``sd_bank``, ``--bank-stride``); prints the mean
absolute difference per kind, with the mean absolute target for scale,
and, for reference, how far SAM itself is from flip equivariance (the
flipped view's per-view targets against the unflipped view's, mirrored).

``refine`` (a stage-2 config and a teacher checkpoint): for
``--views`` augmented views of each unlabeled image (the config's own
unlabeled pipeline, with the hidden GT of ``--gt-ann`` carried through
it), the teacher's pseudo-labels refined per view and in the source frame,
each scored against the GT of that view (mean IoU, precision, recall).

Examples::

    python tools/analysis/compare_sam_frames.py sd \\
        configs/s4m/demo/s4m-teacher_effl0_nuclei.py
    python tools/analysis/compare_sam_frames.py refine \\
        configs/s4m/demo/s4m-student_effl0_nuclei.py TEACHER.pth \\
        --gt-ann data/nuclei/annotations/unlabeled_gt.json --views 4
"""
import argparse
import copy
import os.path as osp

import mmcv
import numpy as np
import torch
from mmengine.config import DictAction
from mmengine.dataset import pseudo_collate
from mmengine.runner import set_random_seed

from mmdet.registry import DATASETS, MODELS
from s4m_mm.analysis.benchmark import (build_model, load_config, load_teacher,
                                       write_report)

VIEW_KINDS = ('identity', 'flip', 'scale_0.8', 'scale_1.25', 'crop')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('what', choices=['sd', 'refine'])
    parser.add_argument('config')
    parser.add_argument('teacher', nargs='?',
                        help='plain Mask2Former checkpoint (refine)')
    parser.add_argument('--gt-ann', help='COCO json of the unlabeled images '
                        'with GT (refine)')
    parser.add_argument('--views', type=int, default=4,
                        help='augmented views per unlabeled image (refine)')
    parser.add_argument('--num-points', type=int, default=None,
                        help='SD query points per image (sd; default: the '
                        "config's num_sd_points)")
    parser.add_argument('--bank-stride', type=int, default=2,
                        help='lattice step of the SD target bank (sd)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='write the result as JSON here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


# ----------------------------------------------------------------- SD
def view_of(image, masks, kind, base_scale, crop_hw):
    """A view of an ``(H, W, 3)`` image and its ``(N, H, W)`` masks by
    ``kind``, as mmdet's Resize / RandomFlip / RandomCrop make it, and its
    ``(3, 3)`` source -> view homography."""
    scale = base_scale * {'scale_0.8': 0.8, 'scale_1.25': 1.25,
                          'crop': 1.25}.get(kind, 1.0)
    h, w = image.shape[:2]
    size = (int(round(w * scale)), int(round(h * scale)))
    view = mmcv.imresize(image, size, interpolation='bilinear')
    mviews = np.stack([mmcv.imresize(m, size, interpolation='nearest')
                       for m in masks]) if len(masks) else \
        np.zeros((0, size[1], size[0]), np.uint8)
    matrix = np.diag([size[0] / w, size[1] / h, 1.0])
    if kind == 'flip':
        view, mviews = view[:, ::-1], mviews[:, :, ::-1]
        matrix = np.array([[-1., 0., size[0]], [0., 1., 0.], [0., 0., 1.]
                           ]) @ matrix
    if kind == 'crop':
        ch, cw = crop_hw
        y0, x0 = (size[1] - ch) // 2, (size[0] - cw) // 3
        view, mviews = view[y0:y0 + ch, x0:x0 + cw], \
            mviews[:, y0:y0 + ch, x0:x0 + cw]
        matrix = np.array([[1., 0., -x0], [0., 1., -y0], [0., 0., 1.]
                           ]) @ matrix
    return np.ascontiguousarray(view), np.ascontiguousarray(mviews), matrix


def compare_sd(cfg, args):
    from s4m_mm.models.utils.geometry import transform_points
    from s4m_mm.models.utils.sd_target_bank import bank_entry, read_bank
    from s4m_mm.models.utils.structural_distill import (
        sam_similarity_targets, sam_similarity_targets_in_source,
        sample_query_points)

    model_cfg = cfg.model
    if model_cfg.get('type') != 'SAMDistillMask2Former':
        raise ValueError(f'{args.config}: `sd` needs a stage-1 config '
                         '(model.type SAMDistillMask2Former)')
    set_random_seed(args.seed)
    sam = MODELS.build(model_cfg.sam)
    sam.eval()
    num_points = args.num_points or model_cfg.panoptic_head.get(
        'num_sd_points', 128)
    fg_ratio = model_cfg.panoptic_head.get('sd_fg_ratio', 0.5)
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True)
    ]
    dataset = DATASETS.build(ds_cfg)
    input_hw = tuple(cfg.get('input_size', (1024, 1024)))
    gen = torch.Generator().manual_seed(args.seed)
    kinds = VIEW_KINDS + ('flip_vs_mirrored_view', )
    diffs = {k: [] for k in kinds}
    magnitude = {k: [] for k in kinds}
    bank_diffs = {k: [] for k in VIEW_KINDS}
    bank_vs_source = {k: [] for k in VIEW_KINDS}
    for i in range(len(dataset)):
        item = dataset[i]
        image = mmcv.bgr2rgb(item['img'])
        masks = item['gt_masks'].masks
        base = min(input_hw[0] / image.shape[0], input_hw[1] / image.shape[1])
        src = torch.from_numpy(image).permute(2, 0, 1).float()
        emb = sam.embed_images(src[None])
        entry = bank_entry(sam, emb, args.bank_stride)
        views = {}
        for kind in VIEW_KINDS:
            view, vmasks, matrix = view_of(image, masks, kind, base, input_hw)
            views[kind] = (view, matrix)
            fg = torch.from_numpy(vmasks.any(axis=0)) if len(vmasks) else \
                torch.zeros(view.shape[:2], dtype=torch.bool)
            points = sample_query_points(fg, view.shape[:2], num_points,
                                         fg_ratio, gen)[None]
            rgb = torch.from_numpy(view).permute(2, 0, 1).float()[None]
            per_view, _, valid = sam_similarity_targets(sam, rgb, points)
            source, _, _ = sam_similarity_targets_in_source(
                sam, [emb], [np.linalg.inv(matrix)], points, view.shape[:2])
            d = (per_view - source)[..., valid].abs()
            diffs[kind].append(float(d.mean()))
            to_src = np.linalg.inv(matrix)
            grid = sam.cell_centres(view.shape[:2])
            bank = read_bank(
                entry, sam, args.bank_stride,
                sam.to_input_coords(transform_points(points[0], to_src),
                                    image.shape[:2]),
                sam.to_input_coords(transform_points(grid, to_src),
                                    image.shape[:2]))[None]
            bank_diffs[kind].append(float(
                (per_view - bank)[..., valid].abs().mean()))
            bank_vs_source[kind].append(float(
                (source - bank)[..., valid].abs().mean()))
            magnitude[kind].append(float(per_view[..., valid].abs().mean()))
            if kind == 'flip':
                # SAM's own (lack of) flip equivariance: the unflipped
                # view's targets mirrored into the flipped view
                ident, ident_matrix = views['identity']
                ident_emb = sam.embed_images(torch.from_numpy(ident).permute(
                    2, 0, 1).float()[None])
                mirrored, _, _ = sam_similarity_targets_in_source(
                    sam, [ident_emb],
                    [ident_matrix @ np.linalg.inv(matrix)], points,
                    view.shape[:2])
                d = (per_view - mirrored)[..., valid].abs()
                diffs['flip_vs_mirrored_view'].append(float(d.mean()))
                magnitude['flip_vs_mirrored_view'].append(
                    magnitude[kind][-1])
    result = {
        kind: dict(mean_abs_diff=float(np.mean(diffs[kind])),
                   max_image_mean_abs_diff=float(np.max(diffs[kind])),
                   mean_abs_target=float(np.mean(magnitude[kind])))
        for kind in kinds
    }
    for kind in VIEW_KINDS:
        result[kind].update(
            bank_mean_abs_diff=float(np.mean(bank_diffs[kind])),
            bank_vs_source_mean_abs_diff=float(
                np.mean(bank_vs_source[kind])))
    result.update(images=len(dataset), num_points=num_points,
                  bank_stride=args.bank_stride,
                  sam_type=sam.sam_type, input_size=list(input_hw))
    print(f'{"view":<22}{"|C_view - C_source|":>21}{"max (image)":>13}'
          f'{"|C_view - C_bank|":>19}{"|C_source - C_bank|":>21}'
          f'{"|C_view|":>10}')
    for kind in kinds:
        r = result[kind]
        bank = f'{r["bank_mean_abs_diff"]:>19.4f}' \
            f'{r["bank_vs_source_mean_abs_diff"]:>21.4f}' \
            if 'bank_mean_abs_diff' in r else ' ' * 40
        print(f'{kind:<22}{r["mean_abs_diff"]:>21.4f}'
              f'{r["max_image_mean_abs_diff"]:>13.4f}{bank}'
              f'{r["mean_abs_target"]:>10.4f}')
    return result


# ------------------------------------------------------------- refine
def view_dataset(cfg, gt_ann):
    """The unlabeled source's dataset over ``gt_ann`` with its own
    pipeline, the GT loaded instead of the empty annotations and the
    teacher branch packed."""
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset.datasets[1])
    ds_cfg.ann_file = osp.abspath(gt_ann)
    pipeline = []
    for t in ds_cfg.pipeline:
        if t.type == 'LoadEmptyAnnotations':
            t = dict(type='LoadAnnotations', with_bbox=True, with_mask=True)
        elif t.type == 'MultiBranch':
            t = t.unsup_teacher
        pipeline.append(t)
    ds_cfg.pipeline = pipeline
    return DATASETS.build(ds_cfg)


def compare_refine(cfg, args):
    from s4m_mm.evaluation import match_masks, pseudo_label_quality

    if not args.teacher or not args.gt_ann:
        raise ValueError('`refine` needs a teacher checkpoint and --gt-ann')
    if not cfg.model.get('refiner'):
        raise ValueError(f'{args.config}: model.refiner is not set')
    set_random_seed(args.seed)
    frames = {}
    model = None
    for frame in ('view', 'source'):
        refiner = dict(cfg.model.refiner, frame=frame)
        if frame == 'view':
            refiner.pop('store', None)
            refiner.pop('source_loader', None)
        mcfg = dict(cfg.model, refiner=refiner)
        if model is None:
            model = build_model(mcfg, 'cpu')
            load_teacher(model, args.teacher)
            model.eval()
            frames[frame] = model.refiner
        else:
            # the same SAM in the other frame
            other = MODELS.build(
                dict(refiner, sam=model.refiner.predictor.adapter))
            frames[frame] = other
    dataset = view_dataset(cfg, args.gt_ann)
    results = {'teacher': [], 'view': [], 'source': []}
    set_random_seed(args.seed)
    with torch.no_grad():
        for _ in range(args.views):
            for i in range(len(dataset)):
                data = model.data_preprocessor(
                    pseudo_collate([dataset[i]]), False)
                inputs, samples = data['inputs'], data['data_samples']
                selected = model.select_teacher_instances(inputs, samples)
                outs = {'teacher': selected}
                for frame, refiner in frames.items():
                    outs[frame], _ = refiner(
                        model.denormalize(inputs), selected,
                        data_samples=samples)
                sample = samples[0]
                h, w = sample.img_shape
                gt = sample.gt_instances.masks.to_tensor(
                    torch.bool, inputs.device)[:, :h, :w]
                for key, insts in outs.items():
                    results[key].append(
                        match_masks(insts[0].masks[:, :h, :w], gt, 0.5))
    summary = {k: pseudo_label_quality(v) for k, v in results.items()}
    summary.update(images=len(dataset), views_per_image=args.views)
    print(f'{"pseudo-labels":<22}{"mean IoU":>10}{"precision":>11}'
          f'{"recall":>8}{"count":>7}')
    for key, name in (('teacher', 'teacher'), ('view', 'refined, per view'),
                      ('source', 'refined, source')):
        q = summary[key]
        print(f'{name:<22}{q["mean_iou"]:>10.3f}{q["precision"]:>11.3f}'
              f'{q["recall"]:>8.3f}{q["num_pseudo"]:>7d}')
    summary['source_minus_view_mean_iou'] = \
        summary['source']['mean_iou'] - summary['view']['mean_iou']
    print(f'source - per view, mean IoU: '
          f'{summary["source_minus_view_mean_iou"]:+.4f}')
    return summary


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    result = compare_sd(cfg, args) if args.what == 'sd' else \
        compare_refine(cfg, args)
    result['config'] = args.config
    write_report(result, args.out)


if __name__ == '__main__':
    main()
