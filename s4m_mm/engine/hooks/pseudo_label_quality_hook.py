# Copyright (c) s4m-mm authors. All rights reserved.
from typing import Dict, List, Optional

import torch
from mmengine.fileio import join_path
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmengine.utils import is_abs
from torch import Tensor

from mmdet.datasets.transforms import MultiBranch
from mmdet.registry import HOOKS
from mmdet.structures import SampleList
from s4m_mm.evaluation import (CocoGroundTruthMasks, batch_quality,
                               clip_to_image, masks_to_view, replay_arp_masks)
from .teacher_schedule_hook import unwrap

#: the pseudo-label stages measured, in pipeline order
STAGES = ('teacher', 'refined', 'arp')


def unlabeled_datasets(dataset) -> List:
    """The datasets inside ``dataset`` (through ``ConcatDataset`` and
    dataset wrappers) whose pipeline has a ``MultiBranch`` with an
    ``unsup_teacher`` branch: the unlabeled part of a semi-supervised
    train set."""
    if hasattr(dataset, 'datasets'):
        return [d for sub in dataset.datasets for d in unlabeled_datasets(sub)]
    if hasattr(dataset, 'dataset'):
        return unlabeled_datasets(dataset.dataset)
    transforms = getattr(getattr(dataset, 'pipeline', None), 'transforms', [])
    for transform in transforms:
        if isinstance(transform, MultiBranch) and \
                'unsup_teacher' in transform.branch_pipelines:
            return [dataset]
    return []


def as_bool_tensor(masks, device: torch.device) -> Tensor:
    """``BitmapMasks``, ``TensorMasks`` or a tensor as ``(N, H, W)`` bool."""
    if isinstance(masks, Tensor):
        return masks.to(device=device, dtype=torch.bool)
    return masks.to_tensor(torch.bool, device)


def in_images(masks_list: List[Tensor],
              samples: SampleList) -> List[Tensor]:
    """Each image's ``(N, H, W)`` masks restricted to its ``img_shape``,
    without the masks left empty."""
    clipped = [
        clip_to_image(masks, sample.img_shape)
        for masks, sample in zip(masks_list, samples)
    ]
    return [masks[masks.flatten(1).any(dim=1)] for masks in clipped]


@HOOKS.register_module()
class PseudoLabelQualityHook(Hook):
    """Measures S4M's pseudo-labels against the hidden ground truth of the
    unlabeled images, every ``interval`` training iterations.

    On a measured iteration the hook asks the model to keep the
    pseudo-labels of its unlabeled batch at every stage (see
    ``S4M.pseudo_label_batch``) and compares each stage with the ground
    truth (GT) of the same images in the same frame:

    - ``teacher``: the teacher's selection, in the teacher's view;
    - ``refined``: after SAM refinement, in the teacher's view (the same as
      ``teacher`` on iterations where refinement is off);
    - ``arp``: the labels the student trains on, in the student's view,
      after the batch augments and with the GT carried through the same
      ARP pastes (``s4m_mm.evaluation.replay_arp_masks``: the receiving
      image's GT loses the pasted regions, which get the source image's GT
      restricted to the visible pasted pseudo-masks). Without ARP, the
      projected labels.

    The GT never enters the model: the hook reads it from ``ann_file`` by
    ``img_id`` (crowd annotations left out), rasterises it at the json's
    image size (which must equal the sample's ``ori_shape``) and carries it
    into each view with the sample's ``homography_matrix`` (original ->
    view; ``PackDetInputs`` must keep it in ``meta_keys``). In a view, GT
    and pseudo-masks are restricted to the image (``img_shape``, not the
    padding) and masks with no pixel left are not counted (projection and
    ARP drop such pseudo-labels too).

    Per stage, over the batch, class-agnostic and by mask IoU, published to
    the message hub as ``train/plq_<stage>_<metric>``:

    - ``iou``: mean over pseudo-masks of their best IoU with a GT mask of
      the same image;
    - ``precision``: the fraction of pseudo-masks matched one-to-one
      (greedily by IoU, as COCO) to a GT mask with IoU >= ``iou_thr``;
    - ``recall``: the fraction of GT masks so matched.

    Images without GT instances count in ``iou`` and ``precision`` only. A
    metric whose denominator is 0 in the batch (no pseudo-labels, or no GT)
    is not published on that iteration. The logger prints the scalars (the
    mean over its window) and the visualizer backends record them
    (``vis_data/scalars.json`` of ``LocalVisBackend``, TensorBoard when
    configured). Each process measures its own batch.

    Args:
        interval (int): measure every ``interval`` iterations (iterations
            ``interval``, ``2 * interval``, ...). Defaults to 50.
        ann_file (str, optional): COCO json with the GT of the unlabeled
            images; a relative path is joined with the unlabeled dataset's
            ``data_root``, as a dataset's ``ann_file`` is. Defaults to the
            ``ann_file`` of the unlabeled dataset of the train dataloader
            (this package's COCO and Cityscapes splits keep the GT there).
        iou_thr (float): IoU for a match. Defaults to 0.5.
        backend_args (dict, optional): file backend of ``ann_file``.
    """

    priority = 'NORMAL'

    def __init__(self,
                 interval: int = 50,
                 ann_file: Optional[str] = None,
                 iou_thr: float = 0.5,
                 backend_args: Optional[dict] = None) -> None:
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'interval must be an int >= 1, got '
                             f'interval={interval!r}')
        if not 0.0 < iou_thr <= 1.0:
            raise ValueError(f'iou_thr must be in (0, 1], got '
                             f'iou_thr={iou_thr!r}')
        self.interval = interval
        self.ann_file = ann_file
        self.iou_thr = float(iou_thr)
        self.backend_args = backend_args
        self.ground_truth: Optional[CocoGroundTruthMasks] = None

    # ----------------------------------------------------------- runner

    def before_train(self, runner: Runner) -> None:
        model = unwrap(runner.model)
        if not hasattr(model, 'pseudo_label_batch'):
            raise TypeError(
                'PseudoLabelQualityHook needs an S4M model (with '
                f'`pseudo_label_batch`), got {type(model).__name__}')
        datasets = unlabeled_datasets(runner.train_dataloader.dataset)
        self.ground_truth = CocoGroundTruthMasks(
            self.resolve_ann_file(datasets), self.backend_args)
        for dataset in datasets:
            self.check_image_ids(dataset)

    def before_train_iter(self,
                          runner: Runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        unwrap(runner.model).record_pseudo_labels = \
            self.every_n_train_iters(runner, self.interval)

    def after_train_iter(self,
                         runner: Runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        model = unwrap(runner.model)
        if not model.record_pseudo_labels:
            return
        record = model.pseudo_label_record
        model.record_pseudo_labels = False
        model.pseudo_label_record = None
        if not record:
            raise RuntimeError(
                f'iteration {runner.iter + 1}: the model did not record its '
                'pseudo-labels (S4M.pseudo_label_batch was not called)')
        for key, value in self.measure(record).items():
            runner.message_hub.update_scalar(f'train/plq_{key}', value)

    # ------------------------------------------------------ measurement

    def resolve_ann_file(self, datasets: List) -> str:
        """The GT json: ``ann_file`` (joined with the unlabeled dataset's
        ``data_root`` when relative) or the unlabeled dataset's own."""
        if len(datasets) != 1:
            if self.ann_file is None:
                raise ValueError(
                    f'PseudoLabelQualityHook: found {len(datasets)} '
                    'unlabeled datasets (with a MultiBranch `unsup_teacher` '
                    'branch) in train_dataloader; set the hook\'s ann_file '
                    'to the GT json of the unlabeled images')
            return self.ann_file
        dataset = datasets[0]
        if self.ann_file is None:
            return dataset.ann_file
        data_root = getattr(dataset, 'data_root', None)
        if data_root and not is_abs(self.ann_file):
            return join_path(data_root, self.ann_file)
        return self.ann_file

    def check_image_ids(self, dataset) -> None:
        """Every image of ``dataset`` must be in the GT file."""
        for index in range(len(dataset)):
            img_id = dataset.get_data_info(index)['img_id']
            if img_id not in self.ground_truth:
                raise KeyError(
                    f'image id {img_id!r} of the unlabeled dataset '
                    f'{dataset.ann_file} is not in the ground-truth file '
                    f'{self.ground_truth.ann_file}')

    def original_masks(self, sample, device: torch.device) -> Tensor:
        """``(G, H0, W0)`` GT masks of a sample's image, checked against its
        ``ori_shape``."""
        img_id = sample.metainfo.get('img_id')
        gt_hw = self.ground_truth.image_hw(img_id)
        ori_hw = tuple(int(v) for v in sample.ori_shape)
        if gt_hw != ori_hw:
            raise ValueError(
                f'image {img_id!r} is {gt_hw[0]} x {gt_hw[1]} in '
                f'{self.ground_truth.ann_file} but was loaded as '
                f'{ori_hw[0]} x {ori_hw[1]} (ori_shape)')
        return self.ground_truth.masks(img_id, device)

    def measure(self, record: dict) -> Dict[str, float]:
        """The metrics of one recorded batch.

        Args:
            record (dict): ``S4M.pseudo_label_record``; the GT of the
                student's view goes through the pastes of each ARP record
                of ``record['arp']``, in order.

        Returns:
            dict[str, float]: ``<stage>_<metric>`` values.
        """
        teacher_samples: SampleList = record['teacher_samples']
        student_samples: SampleList = record['student_samples']
        device = record['teacher'][0].masks.device
        originals = [
            self.original_masks(sample, device) for sample in teacher_samples
        ]
        teacher_gt = [
            masks_to_view(masks, sample.metainfo)
            for masks, sample in zip(originals, teacher_samples)
        ]
        student_gt = [
            masks_to_view(masks, sample.metainfo)
            for masks, sample in zip(originals, student_samples)
        ]
        for arp_record in record['arp']:
            student_gt = replay_arp_masks(student_gt, arp_record)
        stages = dict(
            teacher=(in_images([inst.masks for inst in record['teacher']],
                               teacher_samples), teacher_gt),
            refined=(in_images([inst.masks for inst in record['refined']],
                               teacher_samples), teacher_gt),
            arp=(in_images([
                as_bool_tensor(sample.gt_instances.masks, device)
                for sample in student_samples
            ], student_samples), in_images(student_gt, student_samples)))
        results = {}
        for stage in STAGES:
            preds, gts = stages[stage]
            quality = batch_quality(preds, gts, self.iou_thr)
            if quality['num_pseudo']:
                results[f'{stage}_iou'] = quality['mean_iou']
                results[f'{stage}_precision'] = quality['precision']
            if quality['num_gt']:
                results[f'{stage}_recall'] = quality['recall']
        return results
