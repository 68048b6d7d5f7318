# Copyright (c) s4m-mm authors. All rights reserved.
"""Quality of S4M pseudo-labels against the hidden GT of unlabeled images,
before and after SAM refinement. Prints a table and JSON.

    python tools/analysis/pseudo_label_quality.py \
        configs/s4m/demo/s4m-student_effl0_nuclei.py TEACHER.pth \
        --gt-ann data/nuclei/annotations/unlabeled_gt.json

The teacher (a plain Mask2Former checkpoint, e.g. from stage 1, or the
``teacher`` of an S4M checkpoint exported with
tools/model_converters/s4m_to_mmdet.py) predicts on the images of
``--gt-ann`` with the config's test pipeline; pseudo-labels are selected as
in training and refined by the config's refiner.
"""
import argparse
import inspect
import os.path as osp

import torch
import torch.nn.functional as F
from mmengine.config import DictAction
from mmengine.runner import Runner, set_random_seed

from mmdet.datasets.transforms import PackDetInputs
from s4m_mm.analysis.benchmark import (build_model, load_config, load_teacher,
                                       write_report)


DEFAULT_META_KEYS = inspect.signature(
    PackDetInputs).parameters['meta_keys'].default


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='an S4M (stage 2) config')
    parser.add_argument('teacher', help='plain Mask2Former checkpoint')
    parser.add_argument('--gt-ann', required=True,
                        help='COCO json of the unlabeled images with GT')
    parser.add_argument('--iou-thr', type=float, default=0.5)
    parser.add_argument('--out', help='write the result as json here')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random draws (SAM prompts, random '
                        'SAM weights): the same figures at every run')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def to_original_frame(masks, sample):
    """``(N, H, W)`` masks of the (padded, resized) model input -> the
    original image (``ori_shape``), where the test pipeline's GT lives."""
    h, w = sample.img_shape
    masks = masks[:, :h, :w].float()
    if masks.shape[0] == 0:
        return masks.new_zeros((0, *sample.ori_shape), dtype=torch.bool)
    return F.interpolate(masks[None], size=tuple(sample.ori_shape),
                         mode='bilinear', align_corners=False)[0] > 0.5


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    from s4m_mm.evaluation import match_masks, pseudo_label_quality

    set_random_seed(args.seed)
    model = build_model(cfg.model)
    if getattr(model, 'refiner', None) is None:
        raise ValueError(f'{args.config}: model.refiner is not set; this '
                         'tool compares pseudo-labels before and after it')
    load_teacher(model, args.teacher)
    model.eval()
    loader_cfg = cfg.val_dataloader.copy()
    loader_cfg.dataset.ann_file = osp.abspath(args.gt_ann)
    if model.refiner.frame == 'source':
        # the refiner maps prompts by the view's homography_matrix (the
        # test pipeline's Resize records it)
        pack = loader_cfg.dataset.pipeline[-1]
        pack.meta_keys = tuple(pack.get('meta_keys', DEFAULT_META_KEYS)) + (
            'homography_matrix', )
    loader = Runner.build_dataloader(loader_cfg)

    results = {'teacher': [], 'refined': []}
    for data in loader:
        data = model.data_preprocessor(data, False)
        inputs, samples = data['inputs'], data['data_samples']
        # the teacher runs once; SAM refines that same selection
        selected = model.select_teacher_instances(inputs, samples)
        refined, _ = model.refiner(
            model.denormalize(inputs), selected, data_samples=samples)
        for key, instances in (('teacher', selected), ('refined', refined)):
            for sample, inst in zip(samples, instances):
                gt = sample.gt_instances.masks.to_tensor(
                    torch.bool, inputs.device)
                masks = to_original_frame(inst.masks, sample)
                results[key].append(match_masks(masks, gt, args.iou_thr))
    summary = {k: pseudo_label_quality(v) for k, v in results.items()}
    summary['images'] = len(results['teacher'])
    summary['iou_thr'] = args.iou_thr
    summary['refiner'] = dict(
        prompt=model.refiner.prompt, num_points=model.refiner.num_points,
        sam_type=model.refiner.predictor.adapter.sam_type,
        gate=model.refiner.gate)
    print(f'{"pseudo-labels":<14}{"mean IoU":>10}{"precision":>11}'
          f'{"recall":>8}{"count":>7}')
    for key in ('teacher', 'refined'):
        q = summary[key]
        print(f'{key:<14}{q["mean_iou"]:>10.3f}{q["precision"]:>11.3f}'
              f'{q["recall"]:>8.3f}{q["num_pseudo"]:>7d}')
    write_report(summary, args.out)


if __name__ == '__main__':
    main()
