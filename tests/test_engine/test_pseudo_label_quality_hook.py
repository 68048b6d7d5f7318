# Copyright (c) s4m-mm authors. All rights reserved.
"""PseudoLabelQualityHook on hand-made records whose answer is known."""
import json
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData
from pycocotools import mask as mask_utils

from mmdet.structures import DetDataSample
from s4m_mm.engine.hooks import PseudoLabelQualityHook
from s4m_mm.evaluation import CocoGroundTruthMasks
from s4m_mm.models.data_preprocessors import AdaptiveRandomPaste

torch.set_num_threads(1)

SIZE = 64
IDENTITY = np.eye(3)
# horizontal flip of a 64 px wide image (original -> view)
HFLIP = np.array([[-1., 0., SIZE], [0., 1., 0.], [0., 0., 1.]])
STAGES = ('teacher', 'refined', 'arp')


def rect(y1, y2, x1, x2):
    mask = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    mask[y1:y2, x1:x2] = True
    return mask


#: GT of images 1-3 (disjoint rectangles); image 4 has none
GT = {
    1: [rect(4, 20, 4, 24), rect(30, 50, 30, 50)],
    2: [rect(6, 22, 4, 24), rect(30, 50, 32, 52)],
    3: [rect(8, 24, 4, 24), rect(30, 50, 34, 54), rect(55, 60, 5, 10)],
    4: [],
}


def write_gt(path, crowd_on=None):
    images, anns = [], []
    for img_id, masks in GT.items():
        images.append(
            dict(id=img_id, file_name=f'{img_id}.png', height=SIZE,
                 width=SIZE))
        for mask in masks:
            rle = mask_utils.encode(np.asfortranarray(mask.numpy(),
                                                      dtype=np.uint8))
            rle['counts'] = rle['counts'].decode('ascii')
            anns.append(dict(id=len(anns) + 1, image_id=img_id,
                             category_id=1, segmentation=rle,
                             area=int(mask.sum()), bbox=[0, 0, 1, 1],
                             iscrowd=0))
    if crowd_on is not None:  # a crowd region covering the whole image
        rle = mask_utils.encode(np.ones((SIZE, SIZE), np.uint8, order='F'))
        rle['counts'] = rle['counts'].decode('ascii')
        anns.append(dict(id=len(anns) + 1, image_id=crowd_on, category_id=1,
                         segmentation=rle, area=SIZE * SIZE,
                         bbox=[0, 0, SIZE, SIZE], iscrowd=1))
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=anns,
                       categories=[dict(id=1, name='thing')]), f)
    return str(path)


@pytest.fixture
def hook(tmp_path):
    hook = PseudoLabelQualityHook(interval=10)
    hook.ground_truth = CocoGroundTruthMasks(
        write_gt(tmp_path / 'gt.json', crowd_on=3))
    return hook


def sample(img_id, homography, masks=None):
    metainfo = dict(img_id=img_id, ori_shape=(SIZE, SIZE),
                    img_shape=(SIZE, SIZE), batch_input_shape=(SIZE, SIZE))
    if homography is not None:
        metainfo['homography_matrix'] = homography
    data_sample = DetDataSample(metainfo=metainfo)
    if masks is not None:
        data_sample.gt_instances = InstanceData(
            masks=masks, labels=torch.zeros(len(masks), dtype=torch.long))
    return data_sample


def stack(masks):
    return torch.stack(masks) if masks else torch.zeros(
        0, SIZE, SIZE, dtype=torch.bool)


def make_record(img_ids, teacher_masks, student_masks, mix=None):
    """A record as S4M.pseudo_label_batch keeps it: the teacher's view is
    flipped, the student's is not; the student batch is mixed by ``mix``.
    """
    teacher = [InstanceData(masks=m) for m in teacher_masks]
    students = [
        sample(i, IDENTITY, m) for i, m in zip(img_ids, student_masks)
    ]
    if mix is not None:
        _, students = mix(torch.rand(len(img_ids), 3, SIZE, SIZE) * 255,
                          students)
    return dict(
        teacher=teacher,
        refined=[inst.clone() for inst in teacher],
        teacher_samples=[sample(i, HFLIP) for i in img_ids],
        student_samples=students,
        arp=[] if mix is None else [mix.last_mix])


def gt_stack(img_id, flip=False):
    masks = stack(GT[img_id])
    return masks.flip(-1) if flip else masks


def test_pseudo_labels_equal_to_gt_score_one(hook):
    ids = [1, 2, 3]
    mix = AdaptiveRandomPaste(min_area=0, generator_seed=0)
    record = make_record(ids, [gt_stack(i, flip=True) for i in ids],
                         [gt_stack(i) for i in ids], mix)
    assert mix.last_mix.pastes, 'ARP must paste in this case'
    results = hook.measure(record)
    assert results == {
        f'{stage}_{metric}': 1.0
        for stage in STAGES for metric in ('iou', 'precision', 'recall')
    }


def test_disjoint_pseudo_labels_score_zero(hook):
    ids = [1, 2, 3]
    elsewhere = stack([rect(52, 64, 20, 64), rect(0, 3, 40, 64)])
    mix = AdaptiveRandomPaste(min_area=0, generator_seed=0)
    record = make_record(ids, [elsewhere.flip(-1)] * 3, [elsewhere] * 3,
                         mix)
    results = hook.measure(record)
    assert results == {
        f'{stage}_{metric}': 0.0
        for stage in STAGES for metric in ('iou', 'precision', 'recall')
    }


def test_partial_match_and_an_image_without_gt(hook):
    # image 1: one exact pseudo-mask, one with IoU 1/3 with the second GT;
    # image 4 (no GT): one pseudo-mask, counted in precision only
    pseudo = {
        1: stack([GT[1][0], rect(30, 50, 40, 60)]),
        4: stack([rect(0, 8, 0, 8)])
    }
    record = make_record([1, 4], [pseudo[1].flip(-1), pseudo[4].flip(-1)],
                         [pseudo[1], pseudo[4]])
    results = hook.measure(record)
    for stage in STAGES:
        assert results[f'{stage}_precision'] == pytest.approx(1 / 3)
        assert results[f'{stage}_recall'] == pytest.approx(1 / 2)
        assert results[f'{stage}_iou'] == pytest.approx((1 + 1 / 3) / 3)


def test_crowd_ignored_and_undefined_metrics_not_published(hook):
    none = stack([])
    record = make_record([3, 4], [none, none], [none, none])
    # no pseudo-label: only recall is defined (GT of image 3 without its
    # crowd region: 3 instances, none found)
    assert hook.measure(record) == {f'{s}_recall': 0.0 for s in STAGES}
    assert len(hook.ground_truth.masks(3)) == 3


def test_errors_name_the_image_and_file(hook, tmp_path):
    gt_file = str(tmp_path / 'gt.json')
    record = make_record([7], [stack([])], [stack([])])
    with pytest.raises(KeyError, match=f'image id 7 is not in the ground-'
                       f'truth file {gt_file}'):
        hook.measure(record)
    record = make_record([1], [stack([])], [stack([])])
    record['teacher_samples'][0].set_metainfo(dict(ori_shape=(32, 64)))
    with pytest.raises(ValueError, match=f'image 1 is 64 x 64 in {gt_file} '
                       'but was loaded as 32 x 64'):
        hook.measure(record)
    record = make_record([1], [stack([])], [stack([])])
    record['teacher_samples'] = [sample(1, None)]
    with pytest.raises(KeyError, match='image 1 has no `homography_matrix`'):
        hook.measure(record)
    empty = tmp_path / 'empty.json'
    empty.write_text(json.dumps(dict(images=[], annotations=[],
                                     categories=[])))
    with pytest.raises(ValueError, match=f'{empty} has no annotations'):
        CocoGroundTruthMasks(str(empty))
    with pytest.raises(ValueError, match='interval must be an int >= 1'):
        PseudoLabelQualityHook(interval=0)


class FakeModel:

    def __init__(self):
        self.record_pseudo_labels = False
        self.pseudo_label_record = None


def test_hook_flags_measured_iterations_and_publishes(hook):
    model = FakeModel()
    hub = MessageHub.get_instance('test_pseudo_label_quality_hook')
    runner = SimpleNamespace(model=model, iter=8, message_hub=hub)
    hook.before_train_iter(runner, 0)
    assert model.record_pseudo_labels is False
    hook.after_train_iter(runner, 0)  # not measured: nothing published
    assert 'train/plq_teacher_iou' not in hub.log_scalars

    runner.iter = 9  # the 10th iteration
    hook.before_train_iter(runner, 0)
    assert model.record_pseudo_labels is True
    model.pseudo_label_record = make_record([1], [gt_stack(1, flip=True)],
                                            [gt_stack(1)])
    hook.after_train_iter(runner, 0)
    assert hub.get_scalar('train/plq_arp_recall').current() == 1.0
    assert hub.get_scalar('train/plq_teacher_iou').current() == 1.0
    assert model.record_pseudo_labels is False
    assert model.pseudo_label_record is None

    hook.before_train_iter(runner, 0)
    with pytest.raises(RuntimeError, match='did not record'):
        hook.after_train_iter(runner, 0)


def test_ann_file_resolution_and_image_id_check(hook, tmp_path):
    root = str(tmp_path) + '/'
    unlabeled = SimpleNamespace(ann_file=root + 'unlabeled.json',
                                data_root=root)
    assert PseudoLabelQualityHook().resolve_ann_file(
        [unlabeled]) == root + 'unlabeled.json'
    assert PseudoLabelQualityHook(
        ann_file='gt.json').resolve_ann_file([unlabeled]) == \
        osp.join(root, 'gt.json')
    assert PseudoLabelQualityHook(
        ann_file='/abs/gt.json').resolve_ann_file([unlabeled]) == \
        '/abs/gt.json'
    with pytest.raises(ValueError, match='found 0 unlabeled datasets'):
        PseudoLabelQualityHook().resolve_ann_file([])

    class Dataset(list):
        ann_file = root + 'unlabeled.json'

        def get_data_info(self, index):
            return dict(img_id=self[index])

    hook.check_image_ids(Dataset([1, 2, 3]))
    with pytest.raises(KeyError, match=f'image id 9 of the unlabeled '
                       f'dataset {root}unlabeled.json is not in the '
                       f'ground-truth file {tmp_path}/gt.json'):
        hook.check_image_ids(Dataset([1, 9]))
