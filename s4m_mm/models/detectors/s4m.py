# Copyright (c) s4m-mm authors. All rights reserved.
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdet.models.detectors import SemiBaseDetector
from mmdet.models.utils import rename_loss_dict, reweight_loss_dict
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptConfigType
from s4m_mm.models.utils.geometry import carry_masks_between_views
from s4m_mm.models.utils.pixels import denormalize, normalize, pixel_options
from s4m_mm.models.utils.pseudo_labels import boxes_from_masks
from s4m_mm.structures import TensorMasks

#: How the batch-size check names the unlabeled batch per GPU.
UNLABELED_BATCH_KEY = (
    'the unlabeled batch per GPU (train_dataloader.batch_size x the '
    'unlabeled share of sampler.source_ratio)')


def build_batch_augments(cfgs: Optional[Dict[str, OptConfigType]]
                         ) -> nn.ModuleDict:
    """The unlabeled batch augments of a config dict, by name, in order.

    Args:
        cfgs (dict, optional): ``name -> config`` (e.g. ``arp=dict(type=
            'AdaptiveRandomPaste'), strong_aug=dict(type=
            'StrongPhotometricAug')``), applied in the dict's order; a name
            set to ``None`` is switched off.

    Raises:
        TypeError: when ``cfgs`` is not a dict of configs with a ``type``.
    """
    if cfgs is None:
        return nn.ModuleDict()
    if not isinstance(cfgs, dict):
        raise TypeError(
            'unsup_batch_augments must be a dict of named batch augment '
            "configs applied in order, e.g. dict(arp=dict(type="
            "'AdaptiveRandomPaste'), strong_aug=dict(type="
            "'StrongPhotometricAug')) (a name set to None is switched off), "
            f'got {type(cfgs).__name__}: {cfgs!r}')
    augments = nn.ModuleDict()
    for name, cfg in cfgs.items():
        if cfg is None:
            continue
        if not isinstance(cfg, dict) or 'type' not in cfg:
            raise TypeError(f'unsup_batch_augments.{name} must be a config '
                            f"dict with a 'type' (or None), got {cfg!r}")
        augments[name] = MODELS.build(cfg)
    return augments


def check_pseudo_masks(batch_data_samples: SampleList, where: str) -> None:
    """Refuse pseudo-label masks that are not an ``(N, H, W)`` bool tensor
    (the one type they have from selection to the student's loss).

    Raises:
        TypeError: naming ``where`` (e.g. the batch augment that returned
            them), the sample and what it holds.
    """
    for index, sample in enumerate(batch_data_samples):
        masks = sample.gt_instances.masks
        if not (isinstance(masks, Tensor) and masks.dtype == torch.bool
                and masks.dim() == 3):
            got = (f'a {masks.dtype} tensor of shape {tuple(masks.shape)}'
                   if isinstance(masks, Tensor) else type(masks).__name__)
            raise TypeError(
                f'{where}: pseudo-label masks of sample {index} must stay '
                f'an (N, H, W) bool tensor, got {got}')


def semi_train_with_defaults(cfg: OptConfigType, labeler) -> dict:
    """``cfg`` over the defaults: the loss weights ``sup_weight`` [1.0] and
    ``unsup_weight`` [2.0] and the ``labeler``'s thresholds (its
    ``defaults``).

    Raises:
        KeyError: naming a key of ``cfg`` that neither sets (e.g. the
            ``min_mask_sum`` of a Mask2Former teacher with
            ``PredictionPseudoLabeler``).
    """
    defaults = dict(sup_weight=1.0, unsup_weight=2.0, **labeler.defaults)
    cfg = dict(cfg or {})
    unknown = sorted(set(cfg) - set(defaults))
    if unknown:
        raise KeyError(
            f'model.semi_train_cfg has {unknown}, which neither the loss '
            f'weights nor {type(labeler).__name__} read; its keys are '
            f'{sorted(defaults)}')
    return dict(defaults, **cfg)


def multi_branch_preprocessor(detector: ConfigType) -> dict:
    """The stage-2 data preprocessor of a student config: mmdet's
    ``MultiBranchDataPreprocessor`` around the detector's own (the same
    normalisation and batch pad for the labeled and both unlabeled views).

    Raises:
        KeyError: when the detector config has no ``data_preprocessor``.
    """
    if detector.get('data_preprocessor') is None:
        raise KeyError(
            'S4M: model.detector has no data_preprocessor to wrap; give '
            "model.data_preprocessor (a MultiBranchDataPreprocessor) or the "
            "detector's data_preprocessor")
    return dict(
        type='MultiBranchDataPreprocessor',
        data_preprocessor=detector['data_preprocessor'])


@MODELS.register_module()
class S4M(SemiBaseDetector):
    """S4M stage 2 around any mmdet instance segmentor: a student taught
    by an EMA teacher of the same architecture, with pseudo-labels refined
    by SAM and mixed by ARP.

    Each iteration takes a labeled batch (``sup``) and two views of an
    unlabeled batch (``unsup_teacher``: weak, ``unsup_student``: geometric
    only; the photometric strong augmentation is a batch augment):

    1. supervised losses of the student on ``sup``;
    2. pseudo-labels from the teacher on the weak view, by
       ``pseudo_labeler``: for a Mask2Former (:class:`QueryPseudoLabeler`,
       the paper) its last layer's queries whose argmax class is not "no
       object" with softmax confidence above ``score_thr``, masks with
       sigmoid sum above ``min_mask_sum`` at 1/4 resolution, binarised at
       0.5; for any other detector (:class:`PredictionPseudoLabeler`) its
       own ``predict``, instances with score above ``score_thr`` and more
       than ``min_mask_area`` mask pixels; optionally refined by SAM
       (``refiner``; switched by :class:`PseudoLabelRefineHook`);
    3. masks carried to the student's view (identity when the views share
       geometry, else the homography of the two views);
    4. ``unsup_batch_augments`` applied in order on the un-normalised
       student batch (RGB 0-255), e.g. :class:`AdaptiveRandomPaste` then
       :class:`StrongPhotometricAug`; an empty list leaves it as it is;
    5. boxes from the final masks, and ``unsup_weight`` x the student's
       own losses against the pseudo-labels (Mask2Former's; Mask R-CNN's
       RPN, box and mask losses; RTMDet-Ins' ...).

    Pseudo-label masks are one type from selection to the student's loss:
    an ``(N, H, W)`` bool tensor at the batch input size, on the model's
    device. A batch augment must return them so (an error names the one
    that does not); the student's head reads them through
    :class:`TensorMasks`, a view with the masks-structure API mmdet's heads
    call (``to_tensor``), not a copy.

    The loss dict also carries the refinement statistics of the iteration
    as ``refine_<key>`` scalars (``instances``, ``refined``,
    ``iou_teacher_refined``, ``sam_pred_iou``; no ``loss`` in their names,
    so ``parse_losses`` logs them without adding them to the loss).

    The teacher is frozen and scheduled by :class:`TeacherScheduleHook`.
    Prediction uses the student unless ``semi_test_cfg.predict_on`` says
    ``'teacher'``; SAM never runs at inference.

    Args:
        detector (dict): the instance segmentor of student and teacher.
        semi_train_cfg (dict): ``sup_weight`` [1.0], ``unsup_weight`` [2.0]
            and the thresholds of ``pseudo_labeler`` (its ``defaults``:
            ``score_thr`` [0.7] and ``min_mask_sum`` [5.0] of
            :class:`QueryPseudoLabeler`; ``score_thr`` [0.7], a float or one
            per class, and ``min_mask_area`` [80] of
            :class:`PredictionPseudoLabeler`).
        semi_test_cfg (dict): ``predict_on`` ['student'].
        pseudo_labeler (dict, optional): how the teacher's pseudo-labels
            are read; default :class:`QueryPseudoLabeler` (Mask2Former),
            :class:`PredictionPseudoLabeler` for any other detector.
        refiner (dict, optional): a :class:`SAMPseudoLabelRefiner`.
        unsup_batch_augments (dict, optional): batch augments of the
            unlabeled student batch by name (``arp``, ``strong_aug`` in the
            paper configs), applied in the dict's order; ``None`` values
            are switched off. Each is called as ``inputs, samples =
            augment(inputs, samples)`` and may define
            ``check_batch_size(batch_size, key)``.
        data_preprocessor (dict, optional): a
            ``MultiBranchDataPreprocessor``; by default the one around the
            detector's (:func:`multi_branch_preprocessor`).
    """

    def __init__(self,
                 detector: ConfigType,
                 semi_train_cfg: OptConfigType = None,
                 semi_test_cfg: OptConfigType = None,
                 pseudo_labeler: OptConfigType = None,
                 refiner: OptConfigType = None,
                 unsup_batch_augments: Optional[Dict[str,
                                                     OptConfigType]] = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg=None) -> None:
        labeler = MODELS.build(pseudo_labeler
                               or dict(type='QueryPseudoLabeler'))
        semi_train_cfg = semi_train_with_defaults(semi_train_cfg, labeler)
        semi_test_cfg = dict(dict(predict_on='student'),
                             **(semi_test_cfg or {}))
        if data_preprocessor is None:
            data_preprocessor = multi_branch_preprocessor(detector)
        super().__init__(
            detector=detector,
            semi_train_cfg=semi_train_cfg,
            semi_test_cfg=semi_test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        labeler.check_teacher(self.teacher)
        #: reads the teacher's pseudo-labels (see select_teacher_instances)
        self.pseudo_labeler = labeler
        self.refiner = MODELS.build(refiner) if refiner else None
        self.unsup_batch_augments = build_batch_augments(unsup_batch_augments)
        #: switched by PseudoLabelRefineHook
        self.refine_enabled = self.refiner is not None
        #: set by PseudoLabelQualityHook on the iterations it measures
        self.record_pseudo_labels = False
        #: the pseudo-labels of each stage, see :meth:`pseudo_label_batch`
        self.pseudo_label_record: Optional[dict] = None

    # ------------------------------------------------------------------
    # pixels
    # ------------------------------------------------------------------
    @property
    def _pixel_preprocessor(self):
        pre = self.data_preprocessor
        return getattr(pre, 'data_preprocessor', pre)

    def denormalize(self, inputs: Tensor) -> Tensor:
        """Normalised model input ``(B, 3, H, W)`` -> RGB 0-255
        (:func:`~s4m_mm.models.utils.pixels.denormalize`)."""
        return denormalize(inputs,
                           **pixel_options(self._pixel_preprocessor))

    def normalize(self, images: Tensor) -> Tensor:
        """Inverse of :meth:`denormalize`."""
        return normalize(images, **pixel_options(self._pixel_preprocessor))

    # ------------------------------------------------------------------
    # losses
    # ------------------------------------------------------------------
    def loss(self, multi_batch_inputs: Dict[str, Tensor],
             multi_batch_data_samples: Dict[str, SampleList]) -> dict:
        """Supervised and unsupervised losses of one iteration, and the
        refinement statistics as ``refine_<key>`` log variables."""
        self.check_unsup_batch_size(
            len(multi_batch_data_samples['unsup_student']))
        losses = self.loss_by_gt_instances(multi_batch_inputs['sup'],
                                           multi_batch_data_samples['sup'])
        inputs, student_samples, batch_info = self.pseudo_label_batch(
            multi_batch_inputs, multi_batch_data_samples)
        losses.update(
            self.loss_by_pseudo_instances(inputs, student_samples,
                                          batch_info))
        losses.update(
            self.refine_log_vars(batch_info.get('refine_stats', {}),
                                 inputs.device))
        return losses

    def check_unsup_batch_size(self, batch_size: int,
                               key: str = UNLABELED_BATCH_KEY) -> None:
        """Let every batch augment that needs a minimum unlabeled batch
        (``check_batch_size``, e.g. ARP's pairs) refuse ``batch_size``."""
        for augment in self.unsup_batch_augments.values():
            check = getattr(augment, 'check_batch_size', None)
            if check is not None:
                check(batch_size, key)

    @staticmethod
    def refine_log_vars(stats: Dict[str, float],
                        device: torch.device) -> Dict[str, Tensor]:
        """Refinement statistics as ``refine_<key>`` scalar tensors: log
        variables that ``parse_losses`` logs but does not sum."""
        return {
            f'refine_{key}': torch.tensor(float(value), device=device)
            for key, value in stats.items()
        }

    def pseudo_label_batch(self, multi_batch_inputs: Dict[str, Tensor],
                           multi_batch_data_samples: Dict[str, SampleList]
                           ) -> Tuple[Tensor, SampleList, dict]:
        """Steps 2-4 on the unlabeled views: the student's augmented input
        and its pseudo-labels.

        When ``record_pseudo_labels`` is set, ``pseudo_label_record`` keeps
        the pseudo-labels of every stage (else it is ``None``):
        ``teacher`` and ``refined`` (per image, :class:`InstanceData` with
        ``masks (N, H, W)`` bool in the teacher's view, before and after
        refinement; equal when refinement is off), ``teacher_samples`` and
        ``student_samples`` (the views' samples; the student's carry the
        augmented pseudo-labels) and ``arp`` (the :class:`ARPRecord` of
        every batch augment that keeps one in ``last_mix``, in order; empty
        without ARP).

        Returns:
            tuple[Tensor, list[DetDataSample], dict]: the normalised ``(B,
            3, H, W)`` student input, its samples (``gt_instances`` with
            ``labels``, ``scores``, ``masks (N, H, W)`` bool and ``bboxes``
            from the final masks) and ``batch_info`` (``refine_stats``: the
            refiner's statistics, empty when it did not run).
        """
        self.pseudo_label_record = {} if self.record_pseudo_labels else None
        teacher_samples, batch_info = self.get_pseudo_instances(
            multi_batch_inputs['unsup_teacher'],
            multi_batch_data_samples['unsup_teacher'])
        student_samples = self.project_pseudo_instances(
            teacher_samples, multi_batch_data_samples['unsup_student'])
        inputs, student_samples = self.augment_unlabeled(
            multi_batch_inputs['unsup_student'], student_samples)
        student_samples = self.add_boxes_from_masks(student_samples)
        if self.pseudo_label_record is not None:
            self.pseudo_label_record.update(
                teacher_samples=teacher_samples,
                student_samples=student_samples,
                arp=[
                    augment.last_mix
                    for augment in self.unsup_batch_augments.values()
                    if getattr(augment, 'last_mix', None) is not None
                ])
        return inputs, student_samples, batch_info

    def loss_by_gt_instances(self, batch_inputs: Tensor,
                             batch_data_samples: SampleList) -> dict:
        losses = self.student.loss(batch_inputs, batch_data_samples)
        weight = self.semi_train_cfg['sup_weight']
        return rename_loss_dict('sup_', reweight_loss_dict(losses, weight))

    def loss_by_pseudo_instances(self,
                                 batch_inputs: Tensor,
                                 batch_data_samples: SampleList,
                                 batch_info: Optional[dict] = None) -> dict:
        """``unsup_weight`` x the student's losses on the pseudo-labels,
        whose bool tensor masks its head reads as :class:`TensorMasks`."""
        for sample in batch_data_samples:
            sample.gt_instances.masks = TensorMasks(sample.gt_instances.masks)
        losses = self.student.loss(batch_inputs, batch_data_samples)
        weight = self.semi_train_cfg['unsup_weight']
        return rename_loss_dict('unsup_', reweight_loss_dict(losses, weight))

    # ------------------------------------------------------------------
    # pseudo-labels
    # ------------------------------------------------------------------
    @torch.no_grad()
    def select_teacher_instances(self, batch_inputs: Tensor,
                                 batch_data_samples: SampleList
                                 ) -> List[InstanceData]:
        """The teacher's selected pseudo-instances of each image, before
        refinement, by ``pseudo_labeler``: ``labels``, ``scores`` and
        ``masks (N, H, W)`` bool at the batch input size (the padding is
        False), plus what the labeler reads (``mask_logits`` of a
        Mask2Former's queries, ``bboxes`` of a detector's predictions)."""
        return self.pseudo_labeler(self.teacher, batch_inputs,
                                   batch_data_samples, self.semi_train_cfg)

    @torch.no_grad()
    def get_pseudo_instances(self, batch_inputs: Tensor,
                             batch_data_samples: SampleList
                             ) -> Tuple[SampleList, dict]:
        """Selected (and, when enabled, refined) pseudo-instances in the
        teacher's view, as ``gt_instances`` with ``masks (N, H, W)`` bool at
        the batch input size, ``labels`` and ``scores``; and ``batch_info``
        with the refiner's statistics (``refine_stats``)."""
        selected = instances = self.select_teacher_instances(
            batch_inputs, batch_data_samples)
        stats: Dict[str, float] = {}
        if self.refiner is not None and self.refine_enabled:
            instances, stats = self.refine(batch_inputs, instances,
                                           batch_data_samples)
        if self.pseudo_label_record is not None:
            self.pseudo_label_record.update(
                teacher=selected, refined=instances)
        return self.as_pseudo_samples(batch_data_samples, instances), dict(
            refine_stats=stats)

    def refine(self, batch_inputs: Tensor, instances: List[InstanceData],
               batch_data_samples: Optional[SampleList] = None
               ) -> Tuple[List[InstanceData], Dict[str, float]]:
        """SAM refinement of the teacher's instances of the normalised
        teacher view ``batch_inputs`` (SAM gets RGB 0-255); the view's data
        samples give a source-frame refiner each view's
        ``homography_matrix`` and ``img_path``."""
        return self.refiner(
            self.denormalize(batch_inputs), instances,
            data_samples=batch_data_samples)

    @staticmethod
    def as_pseudo_samples(batch_data_samples: SampleList,
                          instances: List[InstanceData]) -> SampleList:
        """Put each image's pseudo-instances into its sample's
        ``gt_instances`` (``labels``, ``scores`` and ``masks``)."""
        for sample, inst in zip(batch_data_samples, instances):
            sample.gt_instances = InstanceData(
                labels=inst.labels, scores=inst.scores, masks=inst.masks)
        return batch_data_samples

    def project_pseudo_instances(self, batch_pseudo_instances: SampleList,
                                 batch_data_samples: SampleList
                                 ) -> SampleList:
        """Carry each image's pseudo-instances from the teacher's view to
        the student's view (masks left empty there are dropped)."""
        for teacher, student in zip(batch_pseudo_instances,
                                    batch_data_samples):
            inst = teacher.gt_instances
            masks = carry_masks_between_views(inst.masks, teacher.metainfo,
                                              student.metainfo)
            keep = masks.flatten(1).any(dim=1)
            student.gt_instances = InstanceData(
                labels=inst.labels[keep],
                scores=inst.scores[keep],
                masks=masks[keep])
        return batch_data_samples

    def augment_unlabeled(self, batch_inputs: Tensor,
                          batch_data_samples: SampleList
                          ) -> Tuple[Tensor, SampleList]:
        """``unsup_batch_augments`` in order, on RGB 0-255 pixels (one
        denormalisation before the first, one normalisation after the
        last; nothing when the list is empty)."""
        if len(self.unsup_batch_augments) == 0:
            return batch_inputs, batch_data_samples
        images = self.denormalize(batch_inputs)
        for name, augment in self.unsup_batch_augments.items():
            images, batch_data_samples = augment(images, batch_data_samples)
            check_pseudo_masks(batch_data_samples,
                               f'unsup_batch_augments.{name}')
        return self.normalize(images), batch_data_samples

    @staticmethod
    def add_boxes_from_masks(batch_data_samples: SampleList) -> SampleList:
        """``gt_instances.bboxes`` of every sample from its final masks
        (the only place S4M computes pseudo-label boxes)."""
        for sample in batch_data_samples:
            sample.gt_instances.bboxes = boxes_from_masks(
                sample.gt_instances.masks)
        return batch_data_samples

    def predict(self, batch_inputs: Tensor,
                batch_data_samples: SampleList) -> SampleList:
        on = self.semi_test_cfg.get('predict_on', 'student')
        model = self.teacher if on == 'teacher' else self.student
        return model(batch_inputs, batch_data_samples, mode='predict')
