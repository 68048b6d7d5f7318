# Copyright (c) s4m-mm authors. All rights reserved.
"""S4M around mmdet instance segmentors other than Mask2Former, in
process on the tiny demo students (Mask R-CNN, RTMDet-Ins; random
EfficientNet-Lite0, 64 px): the teacher's predictions selected by
PredictionPseudoLabeler (thresholds, padding, errors), SAM's prompts
drawn in their masks and mapped into SAM's source frame, the pseudo-labels
carried to the student's view with boxes from the final masks, and the
student's own losses on them (RPN, box and mask losses for Mask R-CNN;
RTMDet-Ins' classification, box and mask losses)."""
import copy

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from torch import nn

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from s4m_mm.models.pseudo_labelers import (PredictionPseudoLabeler,
                                           QueryPseudoLabeler)
from s4m_mm.models.refiners import SAMPseudoLabelRefiner
from s4m_mm.models.utils.geometry import transform_points
from s4m_mm.models.utils.pseudo_labels import (boxes_from_masks,
                                               sample_prompt_points)
from s4m_mm.structures import TensorMasks
from s4m_mm.testing import tiny_sam_cfg
from s4m_mm.testing.semi_batches import FLIP, SIZE, multi_batch
from s4m_mm.testing.tiny_detectors import tiny_student_cfg

KINDS = ('mask_rcnn', 'rtmdet_ins')
#: the student's own loss keys of each kind (mmdet's names)
OWN_LOSSES = dict(
    mask_rcnn={'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'acc',
               'loss_bbox', 'loss_mask'},
    rtmdet_ins={'loss_cls', 'loss_bbox', 'loss_mask'})
UNSUP_WEIGHT = 3.0


# ----------------------------------------------------------------------
# PredictionPseudoLabeler on predictions written by hand
# ----------------------------------------------------------------------
class FixedPredictions(nn.Module):
    """A teacher whose ``predict`` gives the same instances to every
    sample and records the ``rescale`` it was asked for."""

    def __init__(self, pred: InstanceData):
        super().__init__()
        self.pred = pred
        self.rescale = None

    def predict(self, inputs, samples, rescale=True):
        self.rescale = rescale
        self.predicted_in_training = self.training
        for sample in samples:
            sample.pred_instances = self.pred.clone()
        return samples


def rect_masks(shape, rects):
    masks = torch.zeros((len(rects), *shape), dtype=torch.bool)
    for mask, (y0, y1, x0, x1) in zip(masks, rects):
        mask[y0:y1, x0:x1] = True
    return masks


def predictions(shape):
    # instance areas 100, 81, 100, 100 px; scores and classes by hand
    return InstanceData(
        scores=torch.tensor([0.9, 0.95, 0.6, 0.8]),
        labels=torch.tensor([0, 0, 1, 1]),
        bboxes=torch.arange(16.).view(4, 4),
        masks=rect_masks(shape, [(0, 10, 0, 10), (20, 29, 20, 29),
                                 (5, 15, 30, 40), (40, 50, 5, 15)]))


def select(pred, cfg, batch_hw=(56, 48), img_shape=(56, 48)):
    teacher = FixedPredictions(pred).train()
    samples = [DetDataSample(metainfo=dict(img_shape=img_shape))]
    (inst, ) = PredictionPseudoLabeler()(teacher,
                                         torch.zeros(1, 3, *batch_hw),
                                         samples, cfg)
    assert teacher.rescale is False  # predictions in the input's frame
    assert teacher.predicted_in_training is False  # in eval mode
    assert 'pred_instances' not in samples[0]
    return inst


def test_predictions_are_kept_by_score_and_mask_area():
    pred = predictions((56, 48))
    inst = select(pred, dict(score_thr=0.7, min_mask_area=80))
    # 0.6 < 0.7 drops instance 2; all areas > 80
    assert inst.scores.tolist() == pytest.approx([0.9, 0.95, 0.8])
    assert inst.labels.tolist() == [0, 0, 1]
    assert torch.equal(inst.bboxes, pred.bboxes[[0, 1, 3]])
    assert torch.equal(inst.masks, pred.masks[[0, 1, 3]])
    # more than min_mask_area pixels: 81 is not more than 81
    inst = select(pred, dict(score_thr=0.0, min_mask_area=81))
    assert inst.scores.tolist() == pytest.approx([0.9, 0.6, 0.8])
    # one threshold per class: class 0 above 0.92, class 1 above 0.5
    inst = select(pred, dict(score_thr=[0.92, 0.5], min_mask_area=0))
    assert inst.scores.tolist() == pytest.approx([0.95, 0.6, 0.8])


def test_predicted_masks_are_fitted_to_the_batch_and_its_padding_cleared():
    # Mask R-CNN predicts at the un-padded input (here 40 x 48 in a
    # 56 x 64 batch); RTMDet-Ins at its padded feature grid (64 x 64 in a
    # 56 x 48 batch): both come out at the batch size, False outside
    # img_shape (36 x 44)
    cfg = dict(score_thr=0.0, min_mask_area=0)
    for pred_hw, batch_hw in [((40, 48), (56, 64)), ((64, 64), (56, 48))]:
        pred = InstanceData(
            scores=torch.tensor([0.9]), labels=torch.tensor([0]),
            bboxes=torch.zeros(1, 4),
            masks=torch.ones((1, *pred_hw), dtype=torch.bool))
        inst = select(pred, cfg, batch_hw=batch_hw, img_shape=(36, 44))
        expected = torch.zeros(batch_hw, dtype=torch.bool)
        expected[:36, :44] = True
        assert inst.masks.shape == (1, *batch_hw)
        assert torch.equal(inst.masks[0], expected)


def test_per_class_thresholds_must_cover_the_predicted_classes():
    with pytest.raises(ValueError, match=r'semi_train_cfg\.score_thr has 1 '
                       r'per-class thresholds.*class 1'):
        select(predictions((56, 48)), dict(score_thr=[0.5],
                                           min_mask_area=0))


def test_non_binary_predicted_masks_are_refused():
    pred = predictions((56, 48))
    pred.masks = pred.masks.to(torch.uint8) * 255
    with pytest.raises(TypeError, match='mask_thr_binary >= 0'):
        select(pred, dict(score_thr=0.0, min_mask_area=0))


def test_each_labeler_refuses_the_other_kind_of_teacher():
    cfg = tiny_student_cfg('mask_rcnn')
    with pytest.raises(TypeError, match="PredictionPseudoLabeler'"):
        MODELS.build(dict(cfg, pseudo_labeler=None,
                          semi_train_cfg=dict(score_thr=0.7)))
    cfg = tiny_student_cfg('mask2former')
    with pytest.raises(TypeError, match="QueryPseudoLabeler'"):
        MODELS.build(dict(cfg, pseudo_labeler=dict(
            type='PredictionPseudoLabeler'), semi_train_cfg=None))


def test_a_threshold_the_labeler_does_not_read_is_refused():
    cfg = tiny_student_cfg('mask_rcnn')
    cfg.semi_train_cfg.min_mask_sum = 5.0
    with pytest.raises(KeyError, match=r"\['min_mask_sum'\].*"
                       'PredictionPseudoLabeler'):
        MODELS.build(cfg)


def test_defaults_of_each_labeler():
    assert QueryPseudoLabeler.defaults == dict(score_thr=0.7,
                                               min_mask_sum=5.0)
    cfg = tiny_student_cfg('mask_rcnn')
    cfg.semi_train_cfg = None
    model = MODELS.build(cfg)
    assert dict(model.semi_train_cfg) == dict(
        sup_weight=1.0, unsup_weight=2.0, score_thr=0.7, min_mask_area=80)


# ----------------------------------------------------------------------
# prompts drawn in binary masks
# ----------------------------------------------------------------------
def test_in_mask_points_are_distinct_pixels_of_their_mask():
    masks = rect_masks((20, 30), [(2, 8, 3, 9), (10, 11, 20, 22)])
    g = torch.Generator().manual_seed(0)
    xy, labels = sample_prompt_points(masks, 3, 'in_mask', g)
    # instance 0: 36 pixels, 3 distinct points inside
    cells = (xy[0] - 0.5).long()
    assert len({tuple(c) for c in cells.tolist()}) == 3
    assert masks[0][cells[:, 1], cells[:, 0]].all()
    assert labels[0].tolist() == [1, 1, 1]
    # instance 1: 2 pixels, both drawn, the third prompt "not a point"
    assert labels[1].tolist() == [1, 1, -1]
    got = {tuple(c) for c in (xy[1, :2] - 0.5).long().tolist()}
    assert got == {(20, 10), (21, 10)}


def test_points_need_logits_unless_drawn_in_the_masks():
    refiner = SAMPseudoLabelRefiner(sam=tiny_sam_cfg(), point_sampling=(
        'logits'))
    inst = InstanceData(masks=rect_masks((16, 16), [(0, 4, 0, 4)]))
    with pytest.raises(ValueError, match=r"point_sampling='logits'.*"
                       "point_sampling='in_mask'"):
        refiner.prompts([inst], (16, 16))
    with pytest.raises(ValueError, match='point_sampling must be one of'):
        SAMPseudoLabelRefiner(sam=tiny_sam_cfg(), point_sampling='inmask')


def test_prompts_of_a_flipped_view_map_into_the_source_masks():
    # a detector's mask in a horizontally flipped 64 px view; its points
    # and box in input pixels, then in the source frame (SAM's) by the
    # inverse of the view's homography: inside the unflipped mask
    refiner = SAMPseudoLabelRefiner(sam=tiny_sam_cfg(), prompt='box+points',
                                    point_sampling='in_mask', frame='source')
    source = rect_masks((SIZE, SIZE), [(10, 20, 5, 12)])
    view = source.flip(-1)
    inst = InstanceData(masks=view, labels=torch.tensor([0]),
                        scores=torch.tensor([1.0]))
    prompts = refiner.prompts([inst], (SIZE, SIZE),
                              torch.Generator().manual_seed(1))
    assert prompts['boxes'].tolist() == [[52., 10., 59., 20.]]
    in_view = (prompts['points'][0] - 0.5).long()
    assert view[0][in_view[:, 1], in_view[:, 0]].all()
    mapped = refiner.prompts_to_source(prompts, torch.tensor([0]),
                                       np.linalg.inv(FLIP))
    cells = mapped['points'][0].floor().long()
    assert source[0][cells[:, 1], cells[:, 0]].all()


# ----------------------------------------------------------------------
# TensorMasks for Mask R-CNN's mask targets
# ----------------------------------------------------------------------
@pytest.mark.parametrize('binarize', [True, False])
def test_crop_and_resize_is_bitmap_masks(binarize):
    g = torch.Generator().manual_seed(0)
    masks = torch.rand((3, 40, 50), generator=g) > 0.6
    boxes = np.array([[0., 0., 50., 40.], [3.5, 7.2, 20.1, 30.],
                      [10., 5., 11., 6.]], dtype=np.float32)
    inds = np.array([2, 0, 1])
    ours = TensorMasks(masks).crop_and_resize(boxes, (7, 9), inds,
                                              binarize=binarize)
    theirs = BitmapMasks(masks.numpy().astype(np.uint8), 40, 50)
    theirs = theirs.crop_and_resize(boxes, (7, 9), inds, binarize=binarize)
    assert isinstance(ours, BitmapMasks) and ours.masks.shape == (3, 7, 9)
    np.testing.assert_array_equal(ours.masks, theirs.masks)
    empty = TensorMasks(masks[:0]).crop_and_resize(boxes[:0], (7, 9),
                                                   inds[:0])
    assert empty.masks.shape == (0, 7, 9)


# ----------------------------------------------------------------------
# the tiny students end to end
# ----------------------------------------------------------------------
def student(kind):
    torch.manual_seed(0)
    cfg = tiny_student_cfg(kind)
    # a random teacher: every prediction is a pseudo-label
    cfg.semi_train_cfg.update(score_thr=0.0, min_mask_area=0,
                              unsup_weight=UNSUP_WEIGHT)
    cfg.refiner = dict(type='SAMPseudoLabelRefiner', sam=tiny_sam_cfg(),
                       point_sampling='in_mask')
    cfg.unsup_batch_augments.arp = None  # masks change only by the views
    model = MODELS.build(cfg)
    model.train()
    return model


def boxed(samples):
    """The labeled samples with their boxes from their masks (the fixture
    leaves them zero)."""
    for s in samples['sup']:
        s.gt_instances.bboxes = boxes_from_masks(
            torch.from_numpy(s.gt_instances.masks.masks).bool())
    return samples


@pytest.mark.parametrize('kind', KINDS)
def test_refined_pseudo_labels_reach_the_students_view_and_its_loss(kind):
    model = student(kind)
    inputs, samples, _ = multi_batch(model)
    samples = boxed(samples)
    model.record_pseudo_labels = True
    torch.manual_seed(3)
    losses = model.loss(inputs, copy.deepcopy(samples))
    record = model.pseudo_label_record
    # the refiner ran on every selected instance of the teacher's view
    selected = sum(len(inst) for inst in record['teacher'])
    assert selected > 0
    assert float(losses['refine_instances']) == selected
    # carried to the flipped student view, boxes from the final masks
    for refined, target in zip(record['refined'],
                               record['student_samples']):
        flipped = refined.masks.flip(-1)
        keep = flipped.flatten(1).any(dim=1)
        # the loss read them through TensorMasks, a view of the tensor
        # (RTMDet-Ins' loss puts its to_tensor() back in their place)
        masks = target.gt_instances.masks
        masks = masks.masks if isinstance(masks, TensorMasks) else masks
        assert torch.equal(masks, flipped[keep])
        assert torch.equal(target.gt_instances.labels, refined.labels[keep])
        assert torch.equal(target.gt_instances.bboxes,
                           boxes_from_masks(flipped[keep]))
    # the same batch by hand: the student's own losses, weighted
    torch.manual_seed(3)
    ref = copy.deepcopy(samples)
    sup = model.student.loss(inputs['sup'], ref['sup'])
    mixed, pseudo, _ = model.pseudo_label_batch(inputs, ref)
    for s in pseudo:
        s.gt_instances.masks = TensorMasks(s.gt_instances.masks)
    unsup = model.student.loss(mixed, pseudo)
    assert set(unsup) == OWN_LOSSES[kind]
    assert {k for k in losses if k.startswith('unsup_')} == {
        f'unsup_{k}' for k in unsup}
    for key, value in unsup.items():
        if key == 'acc':  # a log value, not reweighted by mmdet
            continue
        ours = torch.stack([torch.as_tensor(v) for v in (
            losses[f'unsup_{key}'] if isinstance(value, list) else
            [losses[f'unsup_{key}']])]).float()
        theirs = torch.stack([torch.as_tensor(v) for v in (
            value if isinstance(value, list) else [value])]).float()
        torch.testing.assert_close(ours, UNSUP_WEIGHT * theirs,
                                   rtol=1e-5, atol=1e-6, msg=key)
    assert float(sum(torch.as_tensor(v).sum() for v in (
        unsup['loss_mask'] if isinstance(unsup['loss_mask'], list) else
        [unsup['loss_mask']]))) > 0
    assert set(sup) == OWN_LOSSES[kind]


@pytest.mark.parametrize('kind', KINDS)
def test_the_student_predicts_as_a_plain_detector(kind):
    model = student(kind)
    model.eval()
    inputs, samples, _ = multi_batch(model)
    ours = model.predict(inputs['unsup_teacher'],
                         copy.deepcopy(samples['unsup_teacher']))
    theirs = model.student.predict(inputs['unsup_teacher'],
                                   copy.deepcopy(samples['unsup_teacher']))
    for a, b in zip(ours, theirs):
        assert torch.equal(a.pred_instances.masks, b.pred_instances.masks)
        assert torch.equal(a.pred_instances.scores, b.pred_instances.scores)


@pytest.mark.parametrize('config', [
    'demo/mask-rcnn_effl0_nuclei_sup.py',
    'demo/s4m-student_mask-rcnn_effl0_nuclei.py',
    'demo/rtmdet-ins_effl0_nuclei_sup.py',
    'demo/s4m-student_rtmdet-ins_effl0_nuclei.py'
])
def test_the_demo_configs_build_their_optimizer(config):
    # RTMDet-Ins' head shares convs across levels: without
    # bypass_duplicate its parameters would be in two groups
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from s4m_mm.testing import get_config_path
    init_default_scope('mmdet')
    cfg = Config.fromfile(get_config_path(f's4m/{config}'))
    model_cfg = cfg.model.get('detector', cfg.model)
    model_cfg.backbone.checkpoint = None
    if cfg.model.get('refiner') is not None:
        cfg.model.refiner = None
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    grouped = [id(p) for g in wrapper.optimizer.param_groups
               for p in g['params']]
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert len(grouped) == len(set(grouped))
    assert trainable <= set(grouped)
