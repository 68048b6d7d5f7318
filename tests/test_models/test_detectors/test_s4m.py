# Copyright (c) s4m-mm authors. All rights reserved.
"""The S4M wrapper in-process, on a tiny Mask2Former (the demo student
with 6 queries, one layer per transformer, 64 px images): its loss against
the student's own losses times the weights, the refinement statistics as
log variables, the teacher's selection, the pixels it hands to SAM and to
the unlabeled batch augments (in the order of their dict), pseudo-labels
carried between views of different geometry (mmdet's own transforms give
the expected masks), and prediction by the student or the teacher."""
import copy

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from torch import nn

from mmdet.datasets.transforms import RandomCrop, RandomFlip, Resize
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks
from s4m_mm.models.detectors import S4M
from s4m_mm.structures import TensorMasks
from s4m_mm.testing import get_config_path
from s4m_mm.testing.semi_batches import FLIP, SIZE, multi_batch, sample

STUDENT = get_config_path('s4m/demo/s4m-student_effl0_nuclei.py')
SUP_WEIGHT, UNSUP_WEIGHT = 0.5, 3.0
MIX_SEED = 3


def tiny_s4m_cfg():
    init_default_scope('mmdet')
    model = Config.fromfile(STUDENT).model
    det = model.detector
    det.backbone.checkpoint = None
    det.data_preprocessor.batch_augments = None
    det.panoptic_head.num_queries = 6
    det.panoptic_head.pixel_decoder.encoder.num_layers = 1
    det.panoptic_head.transformer_decoder.num_layers = 1
    det.train_cfg.num_points = 64
    det.test_cfg.max_per_image = 6
    model.refiner = None
    for augment in model.unsup_batch_augments.values():
        augment.generator_seed = MIX_SEED
    return model


def reseed_augments(model):
    for augment in model.unsup_batch_augments.values():
        augment.generator.manual_seed(MIX_SEED)


@pytest.fixture(scope='module')
def s4m():
    torch.manual_seed(0)
    cfg = tiny_s4m_cfg()
    cfg.semi_train_cfg = dict(sup_weight=SUP_WEIGHT,
                              unsup_weight=UNSUP_WEIGHT)
    model = MODELS.build(cfg)
    # a teacher sure that every query is a nucleus: pseudo-instances
    with torch.no_grad():
        model.teacher.panoptic_head.cls_embed.bias[0] = 20.0
    return model


def test_defaults_are_the_papers():
    cfg = tiny_s4m_cfg()
    cfg.pop('semi_train_cfg')
    cfg.pop('semi_test_cfg')
    model = MODELS.build(cfg)
    assert dict(model.semi_train_cfg) == dict(
        sup_weight=1.0, unsup_weight=2.0, score_thr=0.7, min_mask_sum=5.0)
    assert model.semi_test_cfg['predict_on'] == 'student'
    # the teacher is frozen, the student trains
    assert not any(p.requires_grad for p in model.teacher.parameters())
    assert all(p.requires_grad for p in model.student.panoptic_head
               .parameters())
    assert model.refiner is None and model.refine_enabled is False
    # pseudo-labels are kept only on the iterations the quality hook asks
    assert model.record_pseudo_labels is False
    assert model.pseudo_label_record is None


def test_loss_weights_sup_and_unsup_losses_by_their_weights(s4m):
    s4m.train()
    inputs, samples, _ = multi_batch(s4m)

    torch.manual_seed(5)
    reseed_augments(s4m)
    losses = s4m.loss(inputs, copy.deepcopy(samples))

    # the same batches by hand, in the same order of random draws: the
    # student's own losses on the labeled batch, then on the pseudo-labels
    torch.manual_seed(5)
    reseed_augments(s4m)
    ref = copy.deepcopy(samples)
    sup = s4m.student.loss(inputs['sup'], ref['sup'])
    mixed, pseudo, batch_info = s4m.pseudo_label_batch(inputs, ref)
    assert batch_info == dict(refine_stats={})  # no refiner here
    assert sum(len(s.gt_instances) for s in pseudo) > 0
    for s in pseudo:
        s.gt_instances.masks = TensorMasks(s.gt_instances.masks)
    unsup = s4m.student.loss(mixed, pseudo)

    assert set(losses) == {f'sup_{k}' for k in sup} | {
        f'unsup_{k}' for k in unsup}
    assert {'sup_loss_cls', 'sup_loss_mask', 'sup_loss_dice',
            'unsup_loss_cls', 'unsup_loss_mask',
            'unsup_loss_dice'} <= set(losses)
    for key, value in sup.items():
        assert float(losses[f'sup_{key}']) == pytest.approx(
            SUP_WEIGHT * float(value), rel=1e-5), key
    for key, value in unsup.items():
        assert float(losses[f'unsup_{key}']) == pytest.approx(
            UNSUP_WEIGHT * float(value), rel=1e-5), key
    # the two batches differ, so the check above tells the weights apart
    assert float(sup['loss_mask']) != pytest.approx(float(unsup['loss_mask']))


def test_small_unlabeled_batch_is_refused(s4m, monkeypatch):
    def forward_ran(*args):
        raise AssertionError('a forward ran before the batch-size check')

    monkeypatch.setattr(s4m, 'loss_by_gt_instances', forward_ran)
    inputs, samples, _ = multi_batch(s4m)
    inputs = {k: v[:2] for k, v in inputs.items()}
    samples = {k: v[:2] for k, v in samples.items()}
    # refused by S4M before any forward, naming the config keys to change
    with pytest.raises(ValueError, match=r'needs more than 2[\s\S]*'
                       r'train_dataloader\.batch_size'):
        s4m.loss(inputs, samples)


# ----------------------------------------------------------------------
# the teacher's selection
# ----------------------------------------------------------------------
def test_teacher_selection_follows_thresholds_and_clears_the_padding(
        s4m, monkeypatch):
    # raw outputs by hand: query 0 a sure nucleus whose mask logits are
    # positive everywhere, query 1 "no object", query 2 a nucleus at
    # softmax 1 / (1 + e^-0.5) = 0.62 < 0.7
    cls = torch.tensor([[9.0, 0.0], [0.0, 9.0], [0.5, 0.0]]).expand(2, -1, -1)
    mask_logits = torch.full((2, 3, SIZE // 4, SIZE // 4), 3.0)
    monkeypatch.setattr(s4m.pseudo_labeler, 'raw_outputs',
                        lambda teacher, inputs, samples: (cls, mask_logits))
    samples = [
        DetDataSample(metainfo=dict(img_shape=(40, 48))),
        DetDataSample(metainfo=dict(img_shape=(SIZE, 20))),
    ]
    inst = s4m.select_teacher_instances(torch.zeros(2, 3, SIZE, SIZE),
                                        samples)
    for image, (h, w) in zip(inst, [(40, 48), (SIZE, 20)]):
        assert image.labels.tolist() == [0]
        assert image.masks.shape == (1, SIZE, SIZE)
        expected = torch.zeros(SIZE, SIZE, dtype=torch.bool)
        expected[:h, :w] = True
        assert torch.equal(image.masks[0], expected)
        assert image.mask_logits.shape == (1, SIZE // 4, SIZE // 4)
    # the thresholds are the config's
    monkeypatch.setitem(s4m.semi_train_cfg, 'score_thr', 0.6)
    inst = s4m.select_teacher_instances(torch.zeros(2, 3, SIZE, SIZE),
                                        samples)
    assert inst[0].labels.tolist() == [0, 0]
    monkeypatch.setitem(s4m.semi_train_cfg, 'min_mask_sum', 16 * 16)
    inst = s4m.select_teacher_instances(torch.zeros(2, 3, SIZE, SIZE),
                                        samples)
    assert len(inst[0]) == 0  # sigmoid(3) * 256 < 256


def test_teacher_raw_outputs_are_the_last_decoder_layer_in_eval(s4m):
    s4m.train()
    inputs, samples, _ = multi_batch(s4m)
    cls, masks = s4m.pseudo_labeler.raw_outputs(
        s4m.teacher, inputs['unsup_teacher'], samples['unsup_teacher'])
    assert not s4m.teacher.training
    assert cls.shape == (3, 6, 2) and masks.shape == (3, 6, 16, 16)
    feats = s4m.teacher.extract_feat(inputs['unsup_teacher'])
    cls_all, masks_all = s4m.teacher.panoptic_head(feats,
                                                   samples['unsup_teacher'])
    assert len(cls_all) == 2  # one decoder layer + the query init
    assert torch.equal(cls, cls_all[-1]) and torch.equal(masks, masks_all[-1])


def test_raw_outputs_are_the_last_of_several_layers(s4m, monkeypatch):
    # the tiny teacher has one decoder layer, where [1] is [-1]: a head
    # with three outputs per list tells them apart
    outputs = [torch.full((1, 2, 2), float(i)) for i in range(3)]
    monkeypatch.setattr(s4m.teacher.panoptic_head, 'forward',
                        lambda x, samples: (outputs, outputs[::-1]))
    cls, masks = s4m.pseudo_labeler.raw_outputs(
        s4m.teacher, torch.zeros(1, 3, SIZE, SIZE), [DetDataSample()])
    assert cls is outputs[2] and masks is outputs[0]


def test_teacher_masks_on_a_wide_batch_are_logits_above_zero(
        s4m, monkeypatch):
    # 2 x 4 logits (3 in columns 0-1, exactly 0 in columns 2-3) upsampled
    # to 8 x 16: bilinear without corner alignment reads column x at
    # (x + 0.5) / 4 - 0.5, positive for x <= 9 and exactly 0 from x = 10
    logits = torch.zeros(1, 1, 2, 4)
    logits[..., :2] = 3.0
    cls = torch.tensor([[[9.0, 0.0]]])
    monkeypatch.setattr(s4m.pseudo_labeler, 'raw_outputs',
                        lambda teacher, inputs, samples: (cls, logits))
    sample = DetDataSample(metainfo=dict(img_shape=(8, 16)))
    (inst, ) = s4m.select_teacher_instances(torch.zeros(1, 3, 8, 16),
                                            [sample])
    expected = torch.zeros(8, 16, dtype=torch.bool)
    expected[:, :10] = True
    assert inst.masks.shape == (1, 8, 16)
    assert torch.equal(inst.masks[0], expected)


# ----------------------------------------------------------------------
# pixels handed to SAM and to ARP
# ----------------------------------------------------------------------
@pytest.mark.parametrize('bgr_to_rgb', [True, False])
def test_denormalize_undoes_the_preprocessor_and_normalize_inverts_it(
        s4m, bgr_to_rgb):
    pre = s4m.data_preprocessor.data_preprocessor
    old = pre._channel_conversion
    pre._channel_conversion = bgr_to_rgb
    try:
        g = torch.Generator().manual_seed(0)
        bgr = torch.randint(0, 256, (2, 3, 32, 32), generator=g).float()
        inputs = pre(dict(inputs=list(bgr), data_samples=None))['inputs']
        # by hand: the mean and std of the config are RGB
        mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
        std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
        model_order = bgr.flip(1) if bgr_to_rgb else bgr
        assert torch.allclose(inputs, (model_order - mean) / std, atol=1e-5)
        rgb = s4m.denormalize(inputs)
        assert torch.allclose(rgb, bgr.flip(1), atol=1e-3)
        assert torch.allclose(s4m.normalize(rgb), inputs, atol=1e-5)
    finally:
        pre._channel_conversion = old


class RefinerSpy(nn.Module):
    """Records what the refiner is given and answers with an 8 x 8 mask in
    the top-left corner for every instance."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, images, instances, data_samples=None):
        assert len(data_samples) == len(instances)
        self.calls.append((images.clone(), instances))
        out = []
        for inst in instances:
            new = inst.clone()
            new.masks = torch.zeros_like(inst.masks)
            new.masks[:, :8, :8] = True
            out.append(new)
        return out, dict(instances=sum(len(i) for i in instances),
                         refined=7)


class AugmentSpy(nn.Module):
    """Records the pixels it is given and the order of the calls (in the
    shared ``log``), then applies ``op`` to them."""

    def __init__(self, name='add10', op=lambda x: x + 10, log=None):
        super().__init__()
        self.name, self.op = name, op
        self.log = [] if log is None else log
        self.images = None

    def forward(self, images, samples):
        self.log.append(self.name)
        self.images = images.clone()
        return self.op(images), samples


@pytest.fixture
def spied(s4m):
    refiner, augments = s4m.refiner, s4m.unsup_batch_augments
    s4m.refiner = RefinerSpy()
    s4m.unsup_batch_augments = nn.ModuleDict(dict(spy=AugmentSpy()))
    yield s4m
    s4m.refiner, s4m.unsup_batch_augments = refiner, augments
    s4m.refine_enabled = refiner is not None
    s4m.record_pseudo_labels = False


def test_refiner_and_mix_get_rgb_pixels_and_their_outputs_are_used(spied):
    inputs, samples, raw = multi_batch(spied)
    spied.refine_enabled = True
    spied.record_pseudo_labels = True
    mixed, student, batch_info = spied.pseudo_label_batch(inputs, samples)

    # SAM sees the teacher's view as RGB 0-255 (the raw images are BGR)
    (images, instances), = spied.refiner.calls
    rgb = torch.stack(raw).float().flip(1)
    assert torch.allclose(images, rgb, atol=1e-3)
    assert [len(i) for i in instances] == [6, 6, 6]
    assert batch_info == dict(refine_stats=dict(instances=18, refined=7))
    # the refined masks (top-left 8 x 8) reach the flipped student view
    # (top-right), with the teacher's labels and scores
    expected = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    expected[:8, -8:] = True
    for s, t in zip(student, instances):
        assert len(s.gt_instances) == 6
        assert all(torch.equal(m, expected) for m in s.gt_instances.masks)
        assert torch.equal(s.gt_instances.labels, t.labels)
        assert torch.equal(s.gt_instances.scores, t.scores)
        assert s.gt_instances.bboxes.tolist() == [[56., 0., 64., 8.]] * 6
    # the batch augment gets the student view as RGB 0-255, its output is
    # normalised
    assert torch.allclose(spied.unsup_batch_augments.spy.images,
                          rgb.flip(-1), atol=1e-3)
    assert torch.allclose(mixed, spied.normalize(rgb.flip(-1) + 10),
                          atol=1e-4)
    # the record keeps every stage
    record = spied.pseudo_label_record
    assert set(record) == {'teacher', 'refined', 'teacher_samples',
                           'student_samples', 'arp'}
    assert record['refined'][0].masks[:, :8, :8].all()
    assert not torch.equal(record['teacher'][0].masks,
                           record['refined'][0].masks)
    assert record['student_samples'] is student
    assert record['arp'] == []  # no augment keeps an ARP record


def test_refinement_switched_off_keeps_the_teachers_masks(spied):
    inputs, samples, _ = multi_batch(spied)
    spied.refine_enabled = False
    spied.record_pseudo_labels = False
    _, student, batch_info = spied.pseudo_label_batch(inputs, samples)
    assert batch_info == dict(refine_stats={})
    assert spied.refiner.calls == []
    assert spied.pseudo_label_record is None
    teacher = spied.select_teacher_instances(
        inputs['unsup_teacher'], samples['unsup_teacher'])
    for s, t in zip(student, teacher):
        assert torch.equal(s.gt_instances.masks, t.masks.flip(-1))


def test_batch_augments_are_applied_in_the_order_of_their_dict(spied):
    log = []
    spied.unsup_batch_augments = nn.ModuleDict(dict(
        add10=AugmentSpy('add10', lambda x: x + 10, log),
        times2=AugmentSpy('times2', lambda x: x * 2, log)))
    inputs, samples, raw = multi_batch(spied)
    spied.refine_enabled = False
    mixed, _, _ = spied.pseudo_label_batch(inputs, samples)
    assert log == ['add10', 'times2']
    # by hand: the student view (RGB 0-255) + 10, then x 2; the second
    # augment saw the first one's output, not the batch
    rgb = torch.stack(raw).float().flip(1).flip(-1)
    assert torch.allclose(spied.unsup_batch_augments.times2.images, rgb + 10,
                          atol=1e-3)
    assert torch.allclose(mixed, spied.normalize((rgb + 10) * 2), atol=1e-4)
    assert not torch.allclose(mixed, spied.normalize(rgb * 2 + 10),
                              atol=1e-2)


def test_no_batch_augment_leaves_the_student_batch_unmixed(spied):
    spied.unsup_batch_augments = nn.ModuleDict()
    inputs, samples, _ = multi_batch(spied)
    spied.refine_enabled = False
    spied.record_pseudo_labels = True
    mixed, student, _ = spied.pseudo_label_batch(inputs, samples)
    # the student's input is its view as the preprocessor made it (no
    # denormalise / normalise round trip) and its pseudo-labels are the
    # teacher's, flipped into its view, with boxes from those masks
    assert mixed is inputs['unsup_student']
    teacher = spied.select_teacher_instances(
        inputs['unsup_teacher'], samples['unsup_teacher'])
    for s, t in zip(student, teacher):
        assert torch.equal(s.gt_instances.masks, t.masks.flip(-1))
        assert 'arp_pasted' not in s.metainfo
    assert spied.pseudo_label_record['arp'] == []
    # and the unlabeled batch of 2 images is no longer refused: nothing
    # pairs images
    spied.check_unsup_batch_size(2)


def test_the_demo_runs_arp_then_the_strong_augmentation(s4m):
    from s4m_mm.models.data_preprocessors import (AdaptiveRandomPaste,
                                                  StrongPhotometricAug)
    assert [(n, type(a)) for n, a in s4m.unsup_batch_augments.items()] == [
        ('arp', AdaptiveRandomPaste), ('strong_aug', StrongPhotometricAug)]
    inputs, samples, _ = multi_batch(s4m)
    s4m.record_pseudo_labels = True
    try:
        reseed_augments(s4m)
        _, student, _ = s4m.pseudo_label_batch(inputs, copy.deepcopy(samples))
        record = s4m.pseudo_label_record
    finally:
        s4m.record_pseudo_labels = False
    # the record holds ARP's geometry of this very call
    assert record['arp'] == [s4m.unsup_batch_augments.arp.last_mix]
    assert all('arp_partner' in s.metainfo for s in student)


def test_a_batch_augment_config_that_is_not_a_named_dict_is_refused():
    cfg = tiny_s4m_cfg()
    cfg.unsup_batch_augments = [dict(type='StrongPhotometricAug')]
    with pytest.raises(TypeError, match='unsup_batch_augments must be a dict'):
        MODELS.build(cfg)
    cfg.unsup_batch_augments = dict(strong_aug='StrongPhotometricAug')
    with pytest.raises(TypeError,
                       match=r'unsup_batch_augments.strong_aug must'):
        MODELS.build(cfg)
    cfg.unsup_batch_augments = dict(strong_aug=dict(
        type='StrongPhotometricAug'), arp=dict(min_area=0))  # no type
    with pytest.raises(TypeError, match=r'unsup_batch_augments.arp must'):
        MODELS.build(cfg)


def test_a_batch_augment_set_to_none_is_switched_off():
    cfg = tiny_s4m_cfg()
    cfg.unsup_batch_augments.arp = None
    model = MODELS.build(cfg)
    assert list(model.unsup_batch_augments) == ['strong_aug']
    # so is a wrapper without augments; the student's preprocessor is
    # the detector's, wrapped for the three branches
    cfg.unsup_batch_augments = None
    model = MODELS.build(cfg)
    assert len(model.unsup_batch_augments) == 0
    assert type(model.data_preprocessor).__name__ == \
        'MultiBranchDataPreprocessor'
    assert torch.equal(
        model.data_preprocessor.data_preprocessor.mean.flatten(),
        torch.tensor(cfg.detector.data_preprocessor.mean))


def test_a_detector_without_a_preprocessor_needs_one_given():
    cfg = tiny_s4m_cfg()
    cfg.detector.pop('data_preprocessor')
    with pytest.raises(KeyError, match='model.detector has no '
                       'data_preprocessor'):
        MODELS.build(cfg)


def test_refinement_statistics_are_logged_not_summed(spied):
    spied.train()
    spied.refine_enabled = True
    inputs, samples, _ = multi_batch(spied)
    losses = spied.loss(inputs, samples)
    assert float(losses['refine_instances']) == 18
    assert float(losses['refine_refined']) == 7
    total, log_vars = spied.parse_losses(losses)
    expected = sum(float(v) for k, v in losses.items() if 'loss' in k)
    assert float(total) == pytest.approx(expected, rel=1e-6)
    assert float(log_vars['refine_instances']) == 18
    # switched off: no statistics
    spied.refine_enabled = False
    inputs, samples, _ = multi_batch(spied)
    assert not any(k.startswith('refine_')
                   for k in spied.loss(inputs, samples))


# ----------------------------------------------------------------------
# pseudo-instances carried between views (mmdet's transforms as reference)
# ----------------------------------------------------------------------
ORI_HW = (32, 48)
#: (row0, row1, col0, col1) of three rectangles of the original image
RECTS = [(2, 10, 4, 14), (14, 30, 20, 28), (24, 31, 38, 47)]


def original():
    H, W = ORI_HW
    masks = np.zeros((len(RECTS), H, W), dtype=np.uint8)
    for k, (r0, r1, c0, c1) in enumerate(RECTS):
        masks[k, r0:r1, c0:c1] = 1
    boxes = [[c0, r0, c1, r1] for r0, r1, c0, c1 in RECTS]
    return dict(
        img=np.zeros((H, W, 3), dtype=np.uint8),
        img_shape=ORI_HW,
        ori_shape=ORI_HW,
        gt_masks=BitmapMasks(masks, H, W),
        gt_bboxes=HorizontalBoxes(torch.tensor(boxes, dtype=torch.float32)),
        gt_bboxes_labels=np.array([0, 1, 2]),
        gt_ignore_flags=np.zeros(3, dtype=bool))


def view(transforms):
    """The original through mmdet's transforms: its masks, boxes, labels,
    img_shape and homography_matrix."""
    results = original()
    for transform in transforms:
        results = transform(results)
    return results


def padded(masks: BitmapMasks, hw):
    out = torch.zeros(len(masks), *hw, dtype=torch.bool)
    array = torch.from_numpy(masks.masks).bool()
    out[:, :array.shape[1], :array.shape[2]] = array
    return out


def flip():
    return RandomFlip(prob=1.0, direction='horizontal')


def resize2():
    return Resize(scale_factor=2.0, keep_ratio=True)


def crop():
    return RandomCrop(crop_size=(40, 24), allow_negative_crop=True)


@pytest.mark.parametrize('teacher_view,student_view', [
    ([], [flip]),
    ([], [resize2]),
    ([], [crop]),
    ([flip], [resize2, crop]),
    ([resize2, flip], [crop, flip]),
])
def test_pseudo_instances_follow_the_student_view(s4m, teacher_view,
                                                  student_view):
    np.random.seed(0)  # RandomCrop draws its offset from numpy
    t = view([make() for make in teacher_view])
    s = view([make() for make in student_view])
    t_pad = (t['img_shape'][0] + 8, t['img_shape'][1] + 4)
    s_pad = (s['img_shape'][0] + 4, s['img_shape'][1] + 8)
    teacher = DetDataSample(metainfo=dict(
        img_shape=t['img_shape'], batch_input_shape=t_pad,
        homography_matrix=t.get('homography_matrix', np.eye(3))))
    teacher.gt_instances = InstanceData(
        labels=torch.from_numpy(t['gt_bboxes_labels']),
        scores=torch.tensor([0.9, 0.8, 0.7]),
        masks=padded(t['gt_masks'], t_pad))
    student = DetDataSample(metainfo=dict(
        img_shape=s['img_shape'], batch_input_shape=s_pad,
        homography_matrix=s['homography_matrix']))
    (out, ) = s4m.add_boxes_from_masks(
        s4m.project_pseudo_instances([teacher], [student]))
    inst = out.gt_instances

    # mmdet's own view of the GT is the expected pseudo-labels
    kept = s['gt_bboxes_labels'].tolist()
    assert inst.labels.tolist() == kept
    assert inst.scores.tolist() == pytest.approx(
        [[0.9, 0.8, 0.7][k] for k in kept])
    assert torch.equal(inst.masks, padded(s['gt_masks'], s_pad))
    assert inst.bboxes.tolist() == s['gt_bboxes'].tensor.tolist()


def test_boxes_come_from_the_final_masks():
    masks = torch.zeros(2, 6, 10, dtype=torch.bool)
    masks[0, 1:3, 2:7] = True
    masks[1, 5, 9] = True
    sample = DetDataSample()
    sample.gt_instances = InstanceData(labels=torch.tensor([0, 1]),
                                       masks=masks)
    sample, = S4M.add_boxes_from_masks([sample])
    assert sample.gt_instances.bboxes.tolist() == [[2, 1, 7, 3],
                                                   [9, 5, 10, 6]]


def as_bitmap(samples):
    for s in samples:
        m = s.gt_instances.masks
        s.gt_instances.masks = BitmapMasks(m.numpy().astype(np.uint8),
                                           *m.shape[-2:])
    return samples


def as_uint8(samples):
    for s in samples:
        s.gt_instances.masks = s.gt_instances.masks.to(torch.uint8)
    return samples


@pytest.mark.parametrize('change,got', [
    (as_bitmap, 'got BitmapMasks'),
    (as_uint8, r'got a torch.uint8 tensor of shape \(6, 64, 64\)')])
def test_an_augment_that_changes_the_mask_type_is_named(spied, change, got):
    """Pseudo-label masks are one type, a bool tensor, up to the loss."""

    class Changing(nn.Module):

        def forward(self, images, samples):
            return images, change(samples)

    spied.unsup_batch_augments = nn.ModuleDict(dict(
        keep=AugmentSpy(), change=Changing()))
    inputs, samples, _ = multi_batch(spied)
    spied.refine_enabled = False
    with pytest.raises(TypeError, match=r'unsup_batch_augments\.change: '
                       r'pseudo-label masks of sample 0 must stay an '
                       r'\(N, H, W\) bool tensor, ' + got):
        spied.pseudo_label_batch(inputs, samples)


def test_the_students_head_reads_the_pseudo_masks_without_a_copy(
        s4m, monkeypatch):
    masks = torch.zeros(1, SIZE, SIZE, dtype=torch.bool)
    masks[0, 4:20, 6:30] = True
    sample = sample_with(masks)
    seen = []
    monkeypatch.setattr(
        s4m.student, 'loss',
        lambda inputs, samples: seen.append(samples[0].gt_instances.masks)
        or dict(loss_mask=torch.tensor(1.0)))
    losses = s4m.loss_by_pseudo_instances(torch.zeros(1, 3, SIZE, SIZE),
                                          [sample])
    assert list(losses) == ['unsup_loss_mask']
    assert float(losses['unsup_loss_mask']) == UNSUP_WEIGHT
    view, = seen
    assert isinstance(view, TensorMasks) and view.masks is masks
    assert torch.equal(view.to_tensor(torch.bool, 'cpu'), masks)


def sample_with(masks):
    out = DetDataSample(metainfo=dict(img_shape=(SIZE, SIZE)))
    out.gt_instances = InstanceData(labels=torch.zeros(len(masks)).long(),
                                    masks=masks)
    return out


def test_crop_drops_the_instances_it_removes(s4m):
    # a crop of rows 0-15 and columns 0-23 only keeps the first rectangle
    t = view([])
    teacher = DetDataSample(metainfo=dict(img_shape=ORI_HW,
                                          batch_input_shape=ORI_HW))
    teacher.gt_instances = InstanceData(
        labels=torch.tensor([0, 1, 2]), scores=torch.tensor([.9, .8, .7]),
        masks=padded(t['gt_masks'], ORI_HW))
    shift = np.eye(3)
    student = DetDataSample(metainfo=dict(
        img_shape=(16, 24), batch_input_shape=(16, 32),
        homography_matrix=shift))
    (out, ) = s4m.add_boxes_from_masks(
        s4m.project_pseudo_instances([teacher], [student]))
    # rectangle 1 starts at row 14: rows 14-15 of columns 20-23 are in the
    # crop; rectangle 2 is outside it; the padding (columns 24-31) is
    # cleared although rectangle 1 reaches column 27 in the teacher's view
    assert out.gt_instances.labels.tolist() == [0, 1]
    masks = out.gt_instances.masks
    assert masks.shape == (2, 16, 32)
    assert int(masks[0].sum()) == 8 * 10
    assert masks[1].nonzero().tolist() == [[r, c] for r in (14, 15)
                                           for c in range(20, 24)]
    assert out.gt_instances.bboxes.tolist() == [[4., 2., 14., 10.],
                                                [20., 14., 24., 16.]]


def test_identical_views_share_the_masks(s4m):
    t = view([])
    teacher = DetDataSample(metainfo=dict(img_shape=ORI_HW,
                                          batch_input_shape=ORI_HW))
    masks = padded(t['gt_masks'], ORI_HW)
    teacher.gt_instances = InstanceData(
        labels=torch.tensor([0, 1, 2]), scores=torch.tensor([.9, .8, .7]),
        masks=masks)
    student = DetDataSample(metainfo=dict(img_shape=ORI_HW,
                                          batch_input_shape=ORI_HW))
    (out, ) = s4m.project_pseudo_instances([teacher], [student])
    assert torch.equal(out.gt_instances.masks, masks)
    assert out.gt_instances.masks is not masks


# ----------------------------------------------------------------------
# prediction
# ----------------------------------------------------------------------
def test_predict_on_student_or_teacher(s4m):
    s4m.eval()
    g = torch.Generator().manual_seed(4)
    inputs = torch.randn(1, 3, SIZE, SIZE, generator=g)

    def samples():
        return [DetDataSample(metainfo=dict(
            img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE),
            scale_factor=(1., 1.), batch_input_shape=(SIZE, SIZE),
            pad_shape=(SIZE, SIZE)))]

    with torch.no_grad():
        by_student = s4m.predict(inputs, samples())[0].pred_instances
        s4m.semi_test_cfg['predict_on'] = 'teacher'
        try:
            by_teacher = s4m.predict(inputs, samples())[0].pred_instances
        finally:
            s4m.semi_test_cfg['predict_on'] = 'student'
        teacher = s4m.teacher.predict(inputs, samples())[0].pred_instances
        student = s4m.student.predict(inputs, samples())[0].pred_instances
    assert torch.equal(by_teacher.scores, teacher.scores)
    assert torch.equal(by_teacher.masks, teacher.masks)
    assert torch.equal(by_student.scores, student.scores)
    # the confident teacher and the random student do not agree
    assert not torch.allclose(teacher.scores, student.scores)
