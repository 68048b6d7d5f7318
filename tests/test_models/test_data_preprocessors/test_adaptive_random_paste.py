# Copyright (c) s4m-mm authors. All rights reserved.
"""AdaptiveRandomPaste: ARP (paste, occlusion, bookkeeping) on small
synthetic batches, alone and followed by the strong photometric
augmentation."""
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks
from s4m_mm.models.data_preprocessors import (AdaptiveRandomPaste,
                                              StrongPhotometricAug)
from s4m_mm.models.data_preprocessors.adaptive_random_paste import \
    remove_occluded_pixels
from s4m_mm.models.utils.pseudo_labels import boxes_from_masks

torch.set_num_threads(1)

SIZE = 64
# min_area=3000 at 1024 x 1024 is 3000 * 64 * 64 / 1024 ** 2 ~ 11.7 px here
MIN_AREA_AT_SIZE = 3000 * SIZE * SIZE / 1024**2


def colour(label):
    """A flat colour per label, distinct for labels 0..30."""
    return torch.tensor([100. + 5 * label, 220. - 5 * label, 40. + 3 * label])


def wrap_masks(masks, kind):
    if kind == 'bitmap':
        return BitmapMasks(masks.numpy().astype(np.uint8), *masks.shape[-2:])
    if kind == 'uint8':
        return masks.to(torch.uint8)
    return masks.clone()


def unwrap_masks(masks):
    if isinstance(masks, BitmapMasks):
        return torch.from_numpy(masks.masks).bool()
    return masks.bool()


def make_batch(layouts,
               kind='bool',
               size=SIZE,
               img_shape=None,
               scores=False,
               box_type='tensor',
               seed=0):
    """Noise images with flat-coloured rectangular instances.

    Args:
        layouts (list[list[tuple]]): per image, ``(label, (y1, y2, x1,
            x2))`` of its instances, in list order.

    Returns:
        tuple: ``(inputs, data_samples, masks)`` with the original
        ``(N, H, W)`` bool masks per image.
    """
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randint(
        0, 256, (len(layouts), 3, size, size), generator=generator).float()
    data_samples, all_masks = [], []
    for index, layout in enumerate(layouts):
        masks = torch.zeros((len(layout), size, size), dtype=torch.bool)
        for k, (label, (y1, y2, x1, x2)) in enumerate(layout):
            masks[k, y1:y2, x1:x2] = True
            inputs[index, :, y1:y2, x1:x2] = colour(label)[:, None, None]
        bboxes = boxes_from_masks(masks)
        gt_instances = InstanceData(
            labels=torch.tensor([label for label, _ in layout],
                                dtype=torch.long),
            masks=wrap_masks(masks, kind),
            bboxes=HorizontalBoxes(bboxes) if box_type == 'hbox' else bboxes)
        if scores:
            gt_instances.scores = torch.linspace(0.5, 0.9, len(layout))
        metainfo = {} if img_shape is None else dict(img_shape=img_shape)
        data_sample = DetDataSample(metainfo=metainfo)
        data_sample.gt_instances = gt_instances
        data_samples.append(data_sample)
        all_masks.append(masks)
    return inputs, data_samples, all_masks


def standard_layouts(batch_size=4):
    """Image i: two pastable instances (labels 3i, 3i+1) whose positions
    shift with i, so pasting partly occludes the receiver's own, and one
    of 9 px (label 3i+2), below the scaled min_area."""
    return [[(3 * i, (4 + 2 * i, 20 + 2 * i, 4, 24)),
             (3 * i + 1, (30, 50, 30 + 2 * i, 50 + 2 * i)),
             (3 * i + 2, (55, 58, 5, 8))] for i in range(batch_size)]


def reference_occlusion(masks):
    """Each mask minus the union of all later ones, one at a time."""
    out = []
    for index, mask in enumerate(masks):
        later = torch.zeros_like(mask)
        for other in masks[index + 1:]:
            later |= other
        out.append(mask & ~later)
    return out


def pasted_areas(data_sample):
    """Areas of the pasted instances (the last ``arp_pasted``)."""
    num = data_sample.metainfo['arp_pasted']
    masks = unwrap_masks(data_sample.gt_instances.masks)
    return masks[len(masks) - num:].flatten(1).sum(1)


@pytest.mark.parametrize('kind', ['bitmap', 'bool', 'uint8'])
def test_paste_matches_reference(kind):
    inputs, data_samples, masks = make_batch(
        standard_layouts(), kind=kind, box_type='hbox' if kind == 'bitmap'
        else 'tensor')
    original = inputs.clone()
    mix = AdaptiveRandomPaste(generator_seed=0)
    outputs, data_samples = mix(inputs, data_samples)
    assert torch.equal(inputs, original), 'inputs must not be modified'

    partners = [ds.metainfo['arp_partner'] for ds in data_samples]
    assert sum(partner >= 0 for partner in partners) == 2
    for receiver, data_sample in enumerate(data_samples):
        gt = data_sample.gt_instances
        final_masks = unwrap_masks(gt.masks)
        # the mask kind and the box type survive the mix
        if kind == 'bitmap':
            assert isinstance(gt.masks, BitmapMasks)
            assert isinstance(gt.bboxes, HorizontalBoxes)
        else:
            assert gt.masks.dtype == (torch.uint8
                                      if kind == 'uint8' else torch.bool)
        partner = partners[receiver]
        if partner < 0:  # not paired: untouched
            assert torch.equal(outputs[receiver], original[receiver])
            assert torch.equal(final_masks, masks[receiver])
            assert data_sample.metainfo['arp_pasted'] == 0
            continue
        assert partners[partner] == receiver
        # the 9 px instance (label 3p + 2) is below the scaled min_area
        pasted = [0, 1]
        expected_masks = reference_occlusion(
            list(masks[receiver]) + [masks[partner][k] for k in pasted])
        expected_labels = [3 * receiver, 3 * receiver + 1, 3 * receiver + 2
                           ] + [3 * partner + k for k in pasted]
        assert gt.labels.tolist() == expected_labels
        assert torch.equal(final_masks, torch.stack(expected_masks))
        assert data_sample.metainfo['arp_pasted'] == 2
        # masks are pairwise disjoint and cover own + pasted instances
        assert final_masks.sum(0).max() <= 1
        union = masks[receiver].any(0) | masks[partner][pasted].any(0)
        assert torch.equal(final_masks.any(0), union)
        # bboxes recomputed from the occluded masks
        boxes = gt.bboxes.tensor if kind == 'bitmap' else gt.bboxes
        assert torch.equal(boxes, boxes_from_masks(final_masks))
        # pixels: the partner's under its pasted masks, own elsewhere
        paste_area = masks[partner][pasted].any(0)
        expected_image = torch.where(paste_area, original[partner],
                                     original[receiver])
        assert torch.equal(outputs[receiver], expected_image)
        # labels aligned with masks: each pasted mask shows its colour
        for mask, label in zip(final_masks[-2:], gt.labels[-2:].tolist()):
            pixels = outputs[receiver][:, mask]
            assert torch.equal(pixels,
                               colour(label)[:, None].expand_as(pixels))


def test_min_area_scales_with_input_area():
    # threshold 350 px at this input: only the 400 px instance is pasted
    mix = AdaptiveRandomPaste(
        min_area=3000,
        reference_area=3000 * SIZE * SIZE / 350,
        generator_seed=0,
        )
    inputs, data_samples, _ = make_batch(standard_layouts())
    _, data_samples = mix(inputs, data_samples)
    for receiver, data_sample in enumerate(data_samples):
        partner = data_sample.metainfo['arp_partner']
        if partner >= 0:
            assert data_sample.metainfo['arp_pasted'] == 1
            assert data_sample.gt_instances.labels[-1] == 3 * partner + 1
    # threshold 500 px: nothing is pasted, nothing changes
    mix = AdaptiveRandomPaste(
        reference_area=3000 * SIZE * SIZE / 500,
        generator_seed=0,
        )
    inputs, data_samples, masks = make_batch(standard_layouts())
    outputs, data_samples = mix(inputs, data_samples)
    assert torch.equal(outputs, inputs)
    for data_sample, own in zip(data_samples, masks):
        assert data_sample.metainfo['arp_pasted'] == 0
        assert torch.equal(data_sample.gt_instances.masks, own)
    # the default threshold (~11.7 px here) keeps 9 px instances out
    assert 9 < MIN_AREA_AT_SIZE < 320


def test_emptied_instances_removed_with_their_fields():
    # same geometry everywhere: the pasted instances cover the receiver's
    layouts = [[(10 + i, (10, 20, 10, 20)), (20 + i, (30, 60, 30, 60))]
               for i in range(4)]
    inputs, data_samples, _ = make_batch(layouts, scores=True)
    for i, data_sample in enumerate(data_samples):
        data_sample.gt_instances.scores = torch.tensor([0.1, 0.2]) + i
    mix = AdaptiveRandomPaste(generator_seed=1)
    _, data_samples = mix(inputs, data_samples)
    for receiver, data_sample in enumerate(data_samples):
        partner = data_sample.metainfo['arp_partner']
        gt = data_sample.gt_instances
        if partner < 0:
            assert gt.labels.tolist() == [10 + receiver, 20 + receiver]
            continue
        assert gt.labels.tolist() == [10 + partner, 20 + partner]
        torch.testing.assert_close(gt.scores,
                                   torch.tensor([0.1, 0.2]) + partner)
        assert len(gt.masks) == len(gt.bboxes) == 2
        assert data_sample.metainfo['arp_pasted'] == 2


@pytest.mark.parametrize('batch_size', [1, 2])
def test_refuses_batches_of_two_or_fewer(batch_size):
    inputs, data_samples, _ = make_batch(standard_layouts(batch_size))
    with pytest.raises(ValueError, match=f'batch size is {batch_size}'):
        AdaptiveRandomPaste()(inputs, data_samples)
    with pytest.raises(ValueError,
                       match='train_dataloader.batch_size is 2.*source_ratio'):
        AdaptiveRandomPaste.check_batch_size(2, 'train_dataloader.batch_size')
    AdaptiveRandomPaste.check_batch_size(3, 'train_dataloader.batch_size')


@pytest.mark.parametrize('batch_size,num_pairs', [(3, 1), (4, 1), (8, 2),
                                                  (16, 4)])
def test_pairs_are_disjoint(batch_size, num_pairs):
    layouts = [[(i, (1, 5, 1, 5))] for i in range(batch_size)]
    inputs, data_samples, _ = make_batch(layouts, size=8)
    mix = AdaptiveRandomPaste(min_area=0, generator_seed=2)
    _, data_samples = mix(inputs, data_samples)
    partners = [ds.metainfo['arp_partner'] for ds in data_samples]
    paired = [i for i, p in enumerate(partners) if p >= 0]
    assert len(paired) == 2 * num_pairs
    assert all(partners[partners[i]] == i and partners[i] != i
               for i in paired)


def test_reproducible_with_seed():

    def run(seed):
        inputs, data_samples, _ = make_batch(
            standard_layouts(8), kind='bitmap')
        arp = AdaptiveRandomPaste(scale_jitter=(0.8, 1.2),
                                  generator_seed=seed)
        strong = StrongPhotometricAug(generator_seed=seed)
        outputs, data_samples = strong(*arp(inputs, data_samples))
        masks = [ds.gt_instances.masks.masks for ds in data_samples]
        return outputs, masks

    outputs, masks = run(3)
    outputs_again, masks_again = run(3)
    assert torch.equal(outputs, outputs_again)
    assert all(np.array_equal(a, b) for a, b in zip(masks, masks_again))
    outputs_other, _ = run(4)
    assert not torch.equal(outputs, outputs_other)


@pytest.mark.parametrize('scale,expected_area', [(1.0, 100), (1.5, 225),
                                                 (0.6, 36)])
def test_scale_jitter_fixed_scale(scale, expected_area):
    layouts = [[(i, (5, 15, 5, 15))] for i in range(4)]
    inputs, data_samples, _ = make_batch(layouts, img_shape=(40, 50))
    mix = AdaptiveRandomPaste(
        scale_jitter=(scale, scale), generator_seed=5)
    outputs, data_samples = mix(inputs, data_samples)
    for receiver, data_sample in enumerate(data_samples):
        partner = data_sample.metainfo['arp_partner']
        if partner < 0:
            continue
        gt = data_sample.gt_instances
        pasted = unwrap_masks(gt.masks)[-1]
        assert gt.labels[-1] == partner
        assert int(pasted.sum()) == expected_area
        # the whole crop lies inside the receiver's valid area (40 x 50)
        x1, y1, x2, y2 = gt.bboxes[-1].tolist()
        assert 0 <= x1 and x2 <= 50 and 0 <= y1 and y2 <= 40
        side = round(10 * scale)
        assert (x2 - x1, y2 - y1) == (side, side)
        pixels = outputs[receiver][:, pasted]
        assert torch.equal(pixels, colour(partner)[:, None].expand_as(pixels))


def test_scale_jitter_random_scale_and_clipping():
    # random s in (0.8, 1.2): area ratio in ~(0.64, 1.44)
    layouts = [[(i, (5, 25, 5, 25))] for i in range(8)]
    inputs, data_samples, _ = make_batch(layouts)
    mix = AdaptiveRandomPaste(
        scale_jitter=(0.8, 1.2), generator_seed=6)
    _, data_samples = mix(inputs, data_samples)
    ratios = torch.cat([pasted_areas(ds) for ds in data_samples]) / 400.
    assert len(ratios) == 4
    assert ((ratios >= 0.62) & (ratios <= 1.46)).all()
    # a 40 px instance scaled by 2 does not fit 48 x 64: s is clipped to 1.2
    layouts = [[(i, (10, 50, 10, 50))] for i in range(4)]
    inputs, data_samples, _ = make_batch(layouts, img_shape=(48, 64))
    mix = AdaptiveRandomPaste(
        scale_jitter=(2.0, 2.0), generator_seed=7)
    _, data_samples = mix(inputs, data_samples)
    for data_sample in data_samples:
        if data_sample.metainfo['arp_partner'] >= 0:
            assert pasted_areas(data_sample).tolist() == [48 * 48]
            x1, y1, x2, y2 = data_sample.gt_instances.bboxes[-1].tolist()
            assert y1 == 0 and y2 == 48 and 0 <= x1 and x2 <= 64


def test_strong_augmentation_after_arp_changes_pixels_not_masks():
    """ARP then the strong augmentation, as S4M applies them: the masks
    are ARP's, the pixels of every image (paired or not) change."""

    def run(strong):
        inputs, data_samples, _ = make_batch(standard_layouts())
        arp = AdaptiveRandomPaste(generator_seed=8)
        outputs, data_samples = arp(inputs, data_samples)
        if strong:
            strong_aug = StrongPhotometricAug(color_jitter_prob=1.0,
                                              generator_seed=8)
            outputs, data_samples = strong_aug(outputs, data_samples)
        return outputs, data_samples

    plain, plain_samples = run(False)
    augmented, augmented_samples = run(True)
    for index in range(len(plain)):
        assert not torch.equal(plain[index], augmented[index])
    assert augmented.min() >= 0 and augmented.max() <= 255
    for a, b in zip(plain_samples, augmented_samples):
        assert torch.equal(a.gt_instances.masks, b.gt_instances.masks)
        assert torch.equal(a.gt_instances.labels, b.gt_instances.labels)
        assert a.metainfo['arp_pasted'] == b.metainfo['arp_pasted']


def test_helpers():
    masks = torch.zeros((3, 6, 6), dtype=torch.bool)
    masks[0, :4, :4] = True
    masks[1, 2:6, 2:6] = True
    masks[2, 3:5, 0:6] = True
    visible = remove_occluded_pixels(masks)
    assert torch.equal(visible, torch.stack(reference_occlusion(list(masks))))
    assert visible.sum(0).max() == 1
    assert boxes_from_masks(masks).tolist() == [
        [0, 0, 4, 4], [2, 2, 6, 6], [0, 3, 6, 5]]


def test_errors_name_the_faulty_value():
    with pytest.raises(TypeError, match='photometric'):
        AdaptiveRandomPaste(photometric=None)  # now StrongPhotometricAug
    with pytest.raises(ValueError, match=r'scale_jitter=\(1.2, 0.8\)'):
        AdaptiveRandomPaste(scale_jitter=(1.2, 0.8))
    with pytest.raises(ValueError, match='prob=1.5'):
        AdaptiveRandomPaste(prob=1.5)
    inputs, data_samples, _ = make_batch(standard_layouts())
    data_samples[1].gt_instances.masks = torch.zeros((3, 32, 32))
    with pytest.raises(ValueError,
                       match=r'data_samples\[1\].gt_instances.masks'):
        AdaptiveRandomPaste()(inputs, data_samples)


def test_prob_zero_leaves_the_batch_as_it_is():
    inputs, data_samples, masks = make_batch(standard_layouts())
    mix = MODELS.build(
        dict(type='AdaptiveRandomPaste', prob=0., generator_seed=11))
    outputs, data_samples = mix(inputs, data_samples)
    assert torch.equal(outputs, inputs)
    for data_sample, own in zip(data_samples, masks):
        assert data_sample.metainfo['arp_pasted'] == 0
        assert torch.equal(data_sample.gt_instances.masks, own)


@pytest.mark.parametrize('kind', ['bitmap', 'bool'])
def test_images_without_instances(kind):
    # odd images have one instance, even ones none: every pairing works
    layouts = [[(i, (8, 24, 8, 24))] if i % 2 else [] for i in range(4)]
    for seed in range(4):
        inputs, data_samples, _ = make_batch(layouts, kind=kind)
        mix = AdaptiveRandomPaste(generator_seed=seed)
        _, data_samples = mix(inputs, data_samples)
        for data_sample in data_samples:
            gt = data_sample.gt_instances
            masks = unwrap_masks(gt.masks)
            assert len(gt.labels) == len(masks) == len(gt.bboxes)
            assert masks.shape[-2:] == (SIZE, SIZE)
            if len(masks):
                assert masks.sum(0).max() <= 1
