# Copyright (c) s4m-mm authors. All rights reserved.
"""SAMPseudoLabelRefiner against values written by hand: what reaches
SAM's prompt encoder for a non-square image at a scale other than 1 (SAM 1:
longest side, padded; SAM 2: square resize), and which masks the quality
gate keeps."""
import pytest
import torch
from mmengine.structures import InstanceData

from s4m_mm.models.refiners import SAMPseudoLabelRefiner
from s4m_mm.models.sam import SAMEmbeddings
from s4m_mm.testing import tiny_sam2_cfg, tiny_sam_cfg

#: the image of the prompt tests: 24 x 48 (H x W); its mask logits are
#: 8 x 8, so a logit cell is 6 px wide and 3 px high (H / h != W / w)
H, W = 24, 48
LOGIT_HW = (8, 8)
#: two instances: (row0, row1, col0, col1) of their masks in the image and
#: the (row, col) logit cells that hold all the mass of their softmax
RECTS = [(2, 10, 5, 20), (12, 22, 30, 46)]
HOT_CELLS = [[(0, 1), (2, 3), (5, 0)], [(7, 7), (4, 6), (1, 2)]]
#: their boxes (x1, y1, x2, y2), x2 and y2 exclusive, by hand from RECTS
BOXES = [(5., 2., 20., 10.), (30., 12., 46., 22.)]

SAM1 = tiny_sam_cfg()
SAM2 = tiny_sam2_cfg()
#: SAM input pixels per image pixel, by hand: SAM 1 scales the longest side
#: (48) to 64; SAM 2 resizes 48 -> 64 across and 24 -> 64 down
SCALES = dict(sam1=(64 / 48, 64 / 48), sam2=(64 / 48, 64 / 24))


def prompt_instances():
    masks = torch.zeros(len(RECTS), H, W, dtype=torch.bool)
    logits = torch.full((len(RECTS), *LOGIT_HW), -50.0)
    for k, ((r0, r1, c0, c1), cells) in enumerate(zip(RECTS, HOT_CELLS)):
        masks[k, r0:r1, c0:c1] = True
        for row, col in cells:
            logits[k, row, col] = 50.0
    return InstanceData(
        labels=torch.tensor([0, 1]),
        scores=torch.tensor([0.9, 0.8]),
        mask_logits=logits,
        masks=masks)


def expected_points(scale):
    """Per instance, the SAM-input ``(x, y)`` of its 3 hot cells' centres,
    sorted: ((col + 0.5) * 6 * s_x, (row + 0.5) * 3 * s_y)."""
    sx, sy = scale
    cell_w, cell_h = W / LOGIT_HW[1], H / LOGIT_HW[0]
    return [
        sorted(((col + 0.5) * cell_w * sx, (row + 0.5) * cell_h * sy)
               for row, col in cells) for cells in HOT_CELLS
    ]


def capture_prompt_encoder(refiner):
    """Record the keyword arguments of every prompt encoder call."""
    calls = []

    def hook(module, args, kwargs):
        calls.append(kwargs)

    refiner.predictor.adapter._prompt_encoder.register_forward_pre_hook(
        hook, with_kwargs=True)
    return calls


def run_refiner(sam, prompt, seed=0):
    torch.manual_seed(seed)  # SAM's random weights
    refiner = SAMPseudoLabelRefiner(
        sam=dict(SAM1 if sam == 'sam1' else SAM2), prompt=prompt,
        num_points=3)
    calls = capture_prompt_encoder(refiner)
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(1, 3, H, W, generator=g) * 255
    refiner(images, [prompt_instances()], torch.Generator().manual_seed(1))
    assert len(calls) == 1  # one decoder call for the batch
    return calls[0]


def sorted_points(coords):
    return [sorted(map(tuple, c.tolist())) for c in coords]


def assert_close(actual, expected):
    """``actual`` (a tensor or nested lists) equals the hand-computed
    ``expected`` up to float32 rounding."""
    torch.testing.assert_close(
        torch.as_tensor(actual, dtype=torch.float32),
        torch.tensor(expected, dtype=torch.float32), atol=1e-4, rtol=0)


@pytest.fixture(scope='module')
def sam2_calls():
    """SAM 2 prompt-encoder inputs of the three prompt modes (SAM 2 is the
    slowest to build: once)."""
    return {
        prompt: run_refiner('sam2', prompt)
        for prompt in ('points', 'box', 'box+points')
    }


def test_sam1_points_are_xy_in_sams_input_frame():
    call = run_refiner('sam1', 'points')
    coords, labels = call['points']
    assert call['boxes'] is None
    assert coords.shape == (2, 3, 2)
    assert labels.tolist() == [[1, 1, 1], [1, 1, 1]]
    assert_close(sorted_points(coords), expected_points(SCALES['sam1']))


def test_sam1_box_is_xyxy_in_sams_input_frame():
    call = run_refiner('sam1', 'box')
    assert call['points'] is None
    sx, sy = SCALES['sam1']
    expected = [[x1 * sx, y1 * sy, x2 * sx, y2 * sy]
                for x1, y1, x2, y2 in BOXES]
    assert_close(call['boxes'], expected)


def test_sam1_box_and_points_sends_both():
    call = run_refiner('sam1', 'box+points')
    sx, sy = SCALES['sam1']
    expected = [[x1 * sx, y1 * sy, x2 * sx, y2 * sy]
                for x1, y1, x2, y2 in BOXES]
    assert call['boxes'] is not None
    assert_close(call['boxes'], expected)
    coords, labels = call['points']
    assert labels.tolist() == [[1, 1, 1], [1, 1, 1]]
    assert_close(sorted_points(coords), expected_points(SCALES['sam1']))


def test_sam2_points_are_xy_in_its_square_input(sam2_calls):
    coords, labels = sam2_calls['points']['points']
    # SAM 2's encoder gets points only; the box comes as corner points
    assert sam2_calls['points']['boxes'] is None
    assert labels.tolist() == [[1, 1, 1], [1, 1, 1]]
    assert_close(sorted_points(coords), expected_points(SCALES['sam2']))


def test_sam2_box_is_two_corner_points(sam2_calls):
    coords, labels = sam2_calls['box']['points']
    sx, sy = SCALES['sam2']
    expected = [[[x1 * sx, y1 * sy], [x2 * sx, y2 * sy]]
                for x1, y1, x2, y2 in BOXES]
    assert_close(coords, expected)
    assert labels.tolist() == [[2, 3], [2, 3]]


def test_sam2_box_and_points_sends_corners_then_points(sam2_calls):
    coords, labels = sam2_calls['box+points']['points']
    sx, sy = SCALES['sam2']
    assert labels.tolist() == [[2, 3, 1, 1, 1], [2, 3, 1, 1, 1]]
    corners = [[[x1 * sx, y1 * sy], [x2 * sx, y2 * sy]]
               for x1, y1, x2, y2 in BOXES]
    assert_close(coords[:, :2], corners)
    assert_close(sorted_points(coords[:, 2:]), expected_points(SCALES['sam2']))


# ----------------------------------------------------------------------
# the gate, with SAM's answers written by hand
# ----------------------------------------------------------------------
GATE_HW = (4, 16)


def row_mask(cols):
    """A (4, 16) mask: columns ``cols`` of row 0."""
    mask = torch.zeros(GATE_HW, dtype=torch.bool)
    mask[0, cols] = True
    return mask


#: per instance: the teacher's mask, SAM's best candidate and its IoU with
#: the teacher's (by hand) and SAM's predicted IoU of that candidate
GATE_CASES = [
    # identical: IoU 1
    dict(teacher=row_mask(slice(0, 10)), best=row_mask(slice(0, 10)),
         iou=1.0, pred=0.875),
    # 4 of 8 pixels: IoU exactly 0.5
    dict(teacher=row_mask(slice(0, 8)), best=row_mask(slice(0, 4)),
         iou=0.5, pred=0.25),
    # 4 of 10 pixels: IoU 0.4
    dict(teacher=row_mask(slice(0, 10)), best=row_mask(slice(0, 4)),
         iou=0.4, pred=0.9375),
    # disjoint: IoU 0; predicted IoU exactly 0.75
    dict(teacher=row_mask(slice(0, 4)), best=row_mask(slice(8, 16)),
         iou=0.0, pred=0.75),
]


class ScriptedSAM:
    """Stands in for ``refiner.predictor.adapter.predict_best_masks``:
    SAM's best candidate of each prompt (highest predicted IoU) is the case's
    ``best`` mask with predicted IoU ``pred``. (That the adapter picks the
    best of its three candidates is tested in test_sam_adapter.py.)"""

    def __init__(self, cases):
        self.cases = cases
        self.calls = 0

    def __call__(self, embeddings, image_index, points=None,
                 point_labels=None, boxes=None, out_size=None):
        self.calls += 1
        assert tuple(out_size) == GATE_HW
        logits = torch.full((len(self.cases), *GATE_HW), -4.0)
        ious = torch.zeros(len(self.cases))
        for k, case in enumerate(self.cases):
            logits[k][case['best']] = 4.0
            ious[k] = case['pred']
            # a logit of exactly 0 is not foreground
            logits[k, 3, 15] = 0.0
        return logits, ious


def gate_refiner(gate):
    refiner = SAMPseudoLabelRefiner(sam=dict(SAM1), prompt='box', gate=gate)
    script = ScriptedSAM(GATE_CASES)
    refiner.predictor.adapter.predict_best_masks = script
    return refiner, script


def gate_instances():
    """The four cases as two images of two instances."""
    out = []
    for cases in (GATE_CASES[:2], GATE_CASES[2:]):
        out.append(
            InstanceData(
                labels=torch.tensor([0, 1]),
                scores=torch.tensor([0.9, 0.8]),
                mask_logits=torch.zeros(2, 1, 4),
                masks=torch.stack([c['teacher'] for c in cases])))
    return out


def embeddings():
    return SAMEmbeddings(torch.zeros(2, 256, 4, 4), GATE_HW)


# which instances take SAM's mask, by hand from GATE_CASES: agreement >=
# 0.5 keeps cases 0 and 1 (0.5 is enough), predicted IoU >= 0.75 keeps 0, 2
# and 3 (0.75 is enough), both keep only case 0
@pytest.mark.parametrize('gate,accepted', [
    (None, [True, True, True, True]),
    (dict(min_agreement=0.5), [True, True, False, False]),
    (dict(min_pred_iou=0.75), [True, False, True, True]),
    (dict(min_agreement=0.5, min_pred_iou=0.75), [True, False, False, False]),
])
def test_gate_keeps_exactly_the_masks_it_should(gate, accepted):
    refiner, script = gate_refiner(gate)
    instances = gate_instances()
    out, stats = refiner.refine_embedded(embeddings(), instances)
    assert script.calls == 1
    assert [len(o) for o in out] == [2, 2]
    refined = torch.cat([o.masks for o in out])
    for k, (case, take) in enumerate(zip(GATE_CASES, accepted)):
        expected = case['best'] if take else case['teacher']
        assert torch.equal(refined[k], expected), k
    for o, i in zip(out, instances):
        assert torch.equal(o.labels, i.labels)
        assert torch.equal(o.scores, i.scores)
    assert stats['instances'] == 4
    assert stats['refined'] == sum(accepted)
    # mean IoU teacher / SAM (1 + 0.5 + 0.4 + 0) / 4 and mean predicted IoU
    # (0.875 + 0.25 + 0.9375 + 0.75) / 4, whatever the gate keeps
    assert stats['iou_teacher_refined'] == pytest.approx(0.475)
    assert stats['sam_pred_iou'] == pytest.approx(0.703125)


def test_refinement_returns_new_instances():
    refiner, _ = gate_refiner(None)
    instances = gate_instances()
    before = [i.masks.clone() for i in instances]
    out, _ = refiner.refine_embedded(embeddings(), instances)
    for o, i, b in zip(out, instances, before):
        assert o is not i
        assert torch.equal(i.masks, b)  # the teacher's are untouched


def test_empty_batch_skips_sam():
    refiner, script = gate_refiner(None)
    empty = InstanceData(labels=torch.zeros(0, dtype=torch.long),
                         scores=torch.zeros(0),
                         mask_logits=torch.zeros(0, 1, 4),
                         masks=torch.zeros(0, *GATE_HW, dtype=torch.bool))
    out, stats = refiner.refine_embedded(embeddings(), [empty, empty])
    assert script.calls == 0
    assert stats == dict(instances=0, refined=0)
    assert [len(o) for o in out] == [0, 0]


def test_sam_device_moves_the_images():
    refiner = SAMPseudoLabelRefiner(sam=dict(SAM1))
    seen = []
    refiner.predictor.adapter.embed_images = lambda images: seen.append(
        images.device)
    refiner.predictor.device = 'meta'
    refiner.embed(torch.zeros(1, 3, 8, 8))
    assert seen == [torch.device('meta')]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='num_points must be >= 1'):
        SAMPseudoLabelRefiner(sam=dict(SAM1), num_points=0)
    # a box needs no points
    assert SAMPseudoLabelRefiner(sam=dict(SAM1), prompt='box',
                                 num_points=0).num_points == 0
    with pytest.raises(ValueError, match='prompt must be one of'):
        SAMPseudoLabelRefiner(sam=dict(SAM1), prompt='mask')
    with pytest.raises(ValueError, match=r"unknown gate keys \['iou'\]"):
        SAMPseudoLabelRefiner(sam=dict(SAM1), gate=dict(iou=0.5))


def test_defaults_are_the_papers():
    refiner = SAMPseudoLabelRefiner(sam=dict(SAM1))
    assert (refiner.prompt, refiner.num_points, refiner.point_sampling,
            refiner.gate, refiner.predictor.device) == ('points', 3,
                                                        'logits', {}, None)


def test_forward_encodes_only_when_there_are_instances():
    refiner, script = gate_refiner(None)
    encoded = []
    refiner.predictor.adapter.embed_images = lambda images: encoded.append(
        images.shape) or embeddings()
    empty = InstanceData(labels=torch.zeros(0, dtype=torch.long),
                         scores=torch.zeros(0),
                         mask_logits=torch.zeros(0, 1, 4),
                         masks=torch.zeros(0, *GATE_HW, dtype=torch.bool))
    images = torch.zeros(2, 3, *GATE_HW)
    out, stats = refiner(images, [empty, empty])
    assert stats == dict(instances=0, refined=0) and encoded == []
    one = gate_instances()[0][:1]
    script.cases = GATE_CASES[:1]
    out, stats = refiner(images[:1], [one])
    assert encoded == [(1, 3, *GATE_HW)] and script.calls == 1
    assert stats['instances'] == 1 and stats['refined'] == 1


def test_prompts_go_to_the_embeddings_device():
    refiner, script = gate_refiner(None)
    seen = []

    def predict(embeddings, image_index, boxes=None, **kwargs):
        seen.append((image_index.device, boxes.device))
        return script(embeddings, image_index, boxes=boxes, **kwargs)

    refiner.predictor.adapter.predict_best_masks = predict
    on_meta = SAMEmbeddings(torch.zeros(2, 256, 4, 4, device='meta'),
                            GATE_HW)
    out, _ = refiner.refine_embedded(on_meta, gate_instances())
    assert seen == [(torch.device('meta'), torch.device('meta'))]
    assert out[0].masks.device == torch.device('cpu')


def test_one_point_is_enough():
    assert SAMPseudoLabelRefiner(sam=dict(SAM1), num_points=1).num_points \
        == 1
