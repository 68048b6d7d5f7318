# Copyright (c) s4m-mm authors. All rights reserved.
"""Draw S4M's pseudo-labels of a few unlabeled images, one PNG per image
with three panels side by side: the teacher's pseudo-labels and the
SAM-refined ones on the teacher's view, and the ARP-mixed, strongly
augmented student input with the labels the student trains on.

    python tools/analysis/browse_pseudo_labels.py \
        configs/s4m/demo/s4m-student_effl0_nuclei.py TEACHER.pth \
        --out-dir work_dirs/pseudo_labels --num-images 6

The unlabeled images go through the config's unlabeled training pipeline
(both views) and its data preprocessor, in batches of ``--batch-size``
(ARP pairs images within a batch and needs more than 2); the teacher (a
plain Mask2Former checkpoint, e.g. from stage 1, or the ``teacher`` of an
S4M checkpoint exported with tools/model_converters/s4m_to_mmdet.py)
selects pseudo-labels as in training, the config's refiner refines them and
its pseudo-label mix mixes the batch. A panel shows its view's image area
(``img_shape``, without padding), drawn with mmdet's DetLocalVisualizer.
"""
import argparse
import os
import os.path as osp

import mmcv
import numpy as np
import torch
from mmengine.config import DictAction
from mmengine.dataset import pseudo_collate
from mmengine.runner import set_random_seed
from mmengine.structures import InstanceData
from torch.utils.data import DataLoader

from mmdet.registry import DATASETS, VISUALIZERS
from mmdet.structures import DetDataSample
from s4m_mm.analysis.benchmark import (build_model, load_config, load_teacher,
                                       resolve_device)

#: panel titles, left to right
TITLES = ('teacher', 'refined (SAM)', 'student (ARP + aug)')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='an S4M (stage 2) config')
    parser.add_argument('teacher', help='plain Mask2Former checkpoint')
    parser.add_argument('--out-dir', required=True,
                        help='write <image name>.png here')
    parser.add_argument('--num-images', type=int, default=4,
                        help='how many unlabeled images to draw')
    parser.add_argument('--batch-size', type=int, default=4,
                        help='unlabeled images mixed together (> 2)')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the augmentations and the mix')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    if args.num_images < 1:
        parser.error(f'--num-images must be >= 1, got {args.num_images}')
    return args


def drop_empty_branches(batch: dict) -> dict:
    """Remove the branches a dataset does not fill (``sup`` of unlabeled
    images, all ``None``) from a collated multi-branch batch."""
    return {
        key: {
            branch: values
            for branch, values in branches.items()
            if any(value is not None for value in values)
        }
        for key, branches in batch.items()
    }


def draw_panel(visualizer, image: torch.Tensor, instances: InstanceData,
               img_shape, title: str) -> np.ndarray:
    """One panel: ``image`` ``(3, H, W)`` RGB 0-255 and the ``(N, H, W)``
    masks of ``instances`` (with ``labels``), cut to ``img_shape``.

    Returns:
        np.ndarray: ``(h, w, 3)`` uint8 RGB.
    """
    from s4m_mm.models.utils.pseudo_labels import boxes_from_masks
    h, w = int(img_shape[0]), int(img_shape[1])
    pixels = image[:, :h, :w].clamp(0, 255).round().byte()
    pixels = pixels.permute(1, 2, 0).cpu().numpy()
    masks = instances.masks
    masks = masks.to_tensor(torch.bool, 'cpu') if hasattr(
        masks, 'to_tensor') else masks.bool().cpu()
    masks = masks[:, :h, :w]
    keep = masks.flatten(1).any(dim=1)
    sample = DetDataSample(gt_instances=InstanceData())
    if keep.any():
        sample.gt_instances = InstanceData(
            masks=masks[keep].numpy(),
            labels=instances.labels[keep.to(instances.labels.device)].cpu(),
            bboxes=boxes_from_masks(masks[keep]))
    visualizer.add_datasample(title, pixels, sample, draw_gt=True,
                              draw_pred=False, show=False)
    visualizer.set_image(visualizer.get_image())
    visualizer.draw_texts(
        f'{title}: {int(keep.sum())}',
        np.array([2, 2]),
        colors='white',
        font_sizes=max(7, min(h, w) // 24),
        bboxes=dict(facecolor='black', alpha=0.6, pad=0.5,
                    edgecolor='none'))
    return visualizer.get_image()


def concat_panels(panels) -> np.ndarray:
    """Panels side by side, padded at the bottom to the tallest."""
    height = max(panel.shape[0] for panel in panels)
    return np.concatenate([
        np.pad(panel, ((0, height - panel.shape[0]), (0, 0), (0, 0)))
        for panel in panels
    ], axis=1)


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    set_random_seed(args.seed)
    from s4m_mm.engine.hooks.pseudo_label_quality_hook import \
        unlabeled_datasets

    model = build_model(cfg.model)
    if not hasattr(model, 'pseudo_label_batch'):
        raise TypeError(f'{args.config}: model.type must be S4M, got '
                        f'{type(model).__name__}')
    model.check_unsup_batch_size(args.batch_size, '--batch-size')
    load_teacher(model, args.teacher)
    model.to(resolve_device(args.device)).eval()

    datasets = unlabeled_datasets(DATASETS.build(cfg.train_dataloader.dataset))
    if len(datasets) != 1:
        raise ValueError(
            f'{args.config}: train_dataloader has {len(datasets)} unlabeled '
            'datasets (a MultiBranch with an `unsup_teacher` branch); '
            'expected 1')
    dataset = datasets[0]
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=False,
                        collate_fn=pseudo_collate)
    visualizer = VISUALIZERS.build(
        dict(cfg.visualizer, name='browse_pseudo_labels', vis_backends=None,
             save_dir=None))
    visualizer.dataset_meta = dataset.metainfo
    os.makedirs(args.out_dir, exist_ok=True)

    drawn = 0
    for batch in loader:
        if drawn >= args.num_images:
            break
        data = model.data_preprocessor(drop_empty_branches(batch), True)
        try:
            model.check_unsup_batch_size(len(data['inputs']['unsup_student']))
        except ValueError:
            break  # a last batch too small for ARP's pairs
        model.record_pseudo_labels = True
        with torch.no_grad():
            student_inputs, student_samples, _ = model.pseudo_label_batch(
                data['inputs'], data['data_samples'])
        record = model.pseudo_label_record
        teacher_images = model.denormalize(data['inputs']['unsup_teacher'])
        student_images = model.denormalize(student_inputs)
        for b, teacher_sample in enumerate(record['teacher_samples']):
            if drawn >= args.num_images:
                break
            panels = [
                draw_panel(visualizer, teacher_images[b], record[key][b],
                           teacher_sample.img_shape, title)
                for key, title in zip(('teacher', 'refined'), TITLES)
            ]
            student = student_samples[b]
            panels.append(
                draw_panel(visualizer, student_images[b],
                           student.gt_instances, student.img_shape,
                           TITLES[2]))
            name = osp.splitext(osp.basename(teacher_sample.img_path))[0]
            out_file = osp.join(args.out_dir, f'{name}.png')
            mmcv.imwrite(concat_panels(panels)[..., ::-1], out_file)
            print(f'{out_file}: {len(record["teacher"][b])} teacher, '
                  f'{len(record["refined"][b])} refined, '
                  f'{len(student.gt_instances)} student pseudo-labels')
            drawn += 1
    if drawn < args.num_images:
        print(f'drew {drawn} of {args.num_images} images: the unlabeled set '
              f'has {len(dataset)} images (batches of {args.batch_size}, a '
              'last batch of 2 or fewer cannot be mixed)')


if __name__ == '__main__':
    main()
