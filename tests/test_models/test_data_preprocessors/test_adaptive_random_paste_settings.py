# Copyright (c) s4m-mm authors. All rights reserved.
"""AdaptiveRandomPaste beyond square batches and default settings: a wide
batch (rows != columns), scale jitter on wide receivers and wide
instances, the paper's defaults, the checks of every setting and input."""
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from s4m_mm.evaluation import replay_arp_masks
from s4m_mm.models.data_preprocessors import AdaptiveRandomPaste
from s4m_mm.models.data_preprocessors.adaptive_random_paste import \
    remove_occluded_pixels
from s4m_mm.testing.batch_augments import BAD_BATCH_AUGMENT_INPUTS

H, W = 32, 96  # a wide batch


def wide_batch(layouts, hw=(H, W), img_shape=None, bitmap=False, seed=0):
    """Noise images with flat-coloured rectangles ``(label, (y1, y2, x1,
    x2))``; returns inputs, samples and the masks of each image."""
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, 256, (len(layouts), 3, *hw), generator=g)
    inputs = inputs.float()
    samples, all_masks = [], []
    for index, layout in enumerate(layouts):
        masks = torch.zeros((len(layout), *hw), dtype=torch.bool)
        for k, (label, (y1, y2, x1, x2)) in enumerate(layout):
            masks[k, y1:y2, x1:x2] = True
            inputs[index, :, y1:y2, x1:x2] = 10.0 * label
        sample = DetDataSample(
            metainfo={} if img_shape is None else dict(img_shape=img_shape))
        sample.gt_instances = InstanceData(
            labels=torch.tensor([label for label, _ in layout],
                                dtype=torch.long),
            masks=BitmapMasks(masks.numpy().astype(np.uint8), *hw)
            if bitmap else masks.clone())
        samples.append(sample)
        all_masks.append(masks)
    return inputs, samples, all_masks


def as_tensor(masks):
    if isinstance(masks, BitmapMasks):
        return torch.from_numpy(masks.masks).bool()
    return masks.bool()


def test_paste_on_a_wide_batch_keeps_positions_and_mask_kind():
    # image i: a 10 x 30 instance at columns 60-90 (only reachable in a
    # batch wider than high) and a 6 x 6 one, both pastable
    layouts = [[(1 + 2 * i, (2 + i, 12 + i, 60, 90)),
                (2 + 2 * i, (20, 26, 4 + 8 * i, 10 + 8 * i))]
               for i in range(4)]
    inputs, samples, masks = wide_batch(layouts, bitmap=True)
    mix = AdaptiveRandomPaste(min_area=0, generator_seed=0)
    outputs, samples = mix(inputs, samples)
    assert mix.last_mix.image_hw == (H, W)
    for receiver, sample in enumerate(samples):
        partner = sample.metainfo['arp_partner']
        gt = sample.gt_instances
        assert (gt.masks.height, gt.masks.width) == (H, W)
        if partner < 0:
            continue
        # own instances lose what the partner's cover, in list order
        own = masks[receiver]
        pasted = masks[partner]
        cover = pasted.any(0)
        expected = [own[0] & ~cover, own[1] & ~cover, pasted[0] & ~pasted[1],
                    pasted[1]]
        expected = [m for m in expected if m.any()]
        assert torch.equal(as_tensor(gt.masks), torch.stack(expected))
        assert torch.equal(outputs[receiver],
                           torch.where(cover, inputs[partner],
                                       inputs[receiver]))
    # the replay of the same pastes on the same masks gives them back
    replayed = replay_arp_masks([m.to(torch.uint8) for m in masks],
                                mix.last_mix)
    for sample, again in zip(samples, replayed):
        assert again.dtype == torch.bool
        assert torch.equal(again, as_tensor(sample.gt_instances.masks))


def test_pasted_counts_follow_their_receiver():
    # image 0 has two pastable instances, the others one: whoever pairs
    # with image 0 receives 2, image 0 receives 1
    layouts = [[(1, (2, 8, 2, 8)), (2, (20, 28, 40, 48))]] + [
        [(10 + i, (10, 16, 70, 76))] for i in range(1, 4)
    ]
    for seed in range(4):
        inputs, samples, _ = wide_batch(layouts, seed=seed)
        mix = AdaptiveRandomPaste(min_area=0, generator_seed=seed)
        _, samples = mix(inputs, samples)
        partner = samples[0].metainfo['arp_partner']
        if partner < 0:
            assert samples[0].metainfo['arp_pasted'] == 0
            continue
        assert samples[0].metainfo['arp_pasted'] == 1
        assert samples[partner].metainfo['arp_pasted'] == 2


def test_min_area_is_inclusive_and_empty_masks_never_travel():
    # threshold exactly 60 px: 6 x 10 = 60 is pasted, 59 px is not
    layouts = [[(1, (0, 6, 0, 10)), (2, (10, 11, 0, 59)), (3, (20, 20, 0, 5))]
               for _ in range(4)]
    inputs, samples, masks = wide_batch(layouts)
    mix = AdaptiveRandomPaste(min_area=60, reference_area=H * W,
                              generator_seed=1)
    _, samples = mix(inputs, samples)
    assert len(mix.last_mix.pastes) == 2  # one instance each way
    for paste in mix.last_mix.pastes:
        assert paste.mask.shape == (6, 10) and paste.mask.all()
    # with min_area 0, a 1 px instance travels and the empty one does not
    layouts = [[(1, (5, 6, 7, 8)), (2, (0, 0, 0, 0))] for _ in range(4)]
    inputs, samples, _ = wide_batch(layouts)
    mix = AdaptiveRandomPaste(min_area=0, generator_seed=1)
    _, samples = mix(inputs, samples)
    assert [tuple(p.mask.shape) for p in mix.last_mix.pastes] == [(1, 1)] * 2


def jittered(layouts, scale, img_shape=None, seed=3):
    inputs, samples, _ = wide_batch(layouts, img_shape=img_shape, seed=seed)
    mix = AdaptiveRandomPaste(min_area=0, scale_jitter=(scale, scale),
                              generator_seed=seed)
    _, samples = mix(inputs, samples)
    return mix.last_mix.pastes, samples


def test_scale_jitter_of_a_wide_instance_keeps_its_aspect():
    # 10 x 20 (h x w) scaled by 1.5: 15 x 30
    pastes, _ = jittered([[(i, (2, 12, 3, 23))] for i in range(4)], 1.5)
    assert [tuple(p.mask.shape) for p in pastes] == [(15, 30)] * 2
    for p in pastes:
        assert p.cut.resized_hw == (15, 30)
        assert 0 <= p.top <= H - 15 and 0 <= p.left <= W - 30


def test_scale_jitter_places_anywhere_in_a_wide_receiver():
    # 8 x 8 instances at scale 1 in a 32 x 96 receiver without img_shape:
    # offsets in [0, 24] x [0, 88]; over a few batches some lie beyond
    # column 24, where a receiver taken as 96 x 32 could not put them
    lefts, tops = [], []
    for seed in range(6):
        pastes, _ = jittered([[(i, (0, 8, 0, 8))] for i in range(8)], 1.0,
                             seed=seed)
        lefts += [p.left for p in pastes]
        tops += [p.top for p in pastes]
    assert max(tops) <= 24 and max(lefts) <= 88
    assert max(lefts) > 24


def test_scale_jitter_is_clipped_to_the_receivers_width():
    # a 10 x 40 instance scaled by 2 into a 30 x 50 valid area: the width
    # binds, s = 50 / 40 = 1.25, so 12 x 50 (round(12.5) = 12) at column 0
    pastes, samples = jittered([[(i, (1, 11, 1, 41))] for i in range(4)],
                               2.0, img_shape=(30, 50))
    assert [tuple(p.mask.shape) for p in pastes] == [(12, 50)] * 2
    assert {p.left for p in pastes} == {0}
    assert all(0 <= p.top <= 30 - 12 for p in pastes)


def test_scale_jitter_keeps_a_one_pixel_instance():
    # round(1 * 0.4) = 0 px would vanish: a pasted instance keeps >= 1 px
    pastes, samples = jittered([[(i, (4, 5, 4, 5))] for i in range(4)], 0.4)
    assert [tuple(p.mask.shape) for p in pastes] == [(1, 1)] * 2
    for sample in samples:
        if sample.metainfo['arp_partner'] >= 0:
            assert sample.metainfo['arp_pasted'] == 1


def test_carried_fields_keep_the_receivers_metainfo():
    inputs, samples, _ = wide_batch([[(i, (0, 8, 0, 8))] for i in range(4)])
    for sample in samples:
        sample.gt_instances.set_metainfo(dict(view='student'))
    mix = AdaptiveRandomPaste(min_area=0, generator_seed=0)
    _, samples = mix(inputs, samples)
    assert [s.gt_instances.metainfo for s in samples] == [
        dict(view='student')
    ] * 4


def test_paired_images_need_the_same_fields():
    inputs, samples, _ = wide_batch([[(i, (0, 8, 0, 8))] for i in range(3)])
    for sample in samples[:2]:
        sample.gt_instances.scores = torch.ones(1)
    mix = AdaptiveRandomPaste(min_area=0, generator_seed=0)
    with pytest.raises(ValueError, match='different gt_instances fields'):
        for _ in range(4):  # some draw pairs image 2 with another
            inputs, samples, _ = wide_batch([[(i, (0, 8, 0, 8))]
                                             for i in range(3)])
            for sample in samples[:2]:
                sample.gt_instances.scores = torch.ones(1)
            mix(inputs, samples)


# ----------------------------------------------------------------------
# settings
# ----------------------------------------------------------------------
def test_defaults_are_the_papers():
    mix = AdaptiveRandomPaste()
    assert (mix.min_area, mix.reference_area, mix.scale_jitter, mix.prob,
            mix.generator_seed, mix.generator) == (
                3000.0, 1024.0 * 1024, None, 1.0, None, None)
    assert AdaptiveRandomPaste.min_batch_size == 3
    mix = AdaptiveRandomPaste(scale_jitter=[0.8, 1.2])
    assert mix.scale_jitter == (0.8, 1.2)


@pytest.mark.parametrize('kwargs,message', [
    (dict(min_area=-1), 'min_area must be >= 0, got min_area=-1'),
    (dict(reference_area=0), 'reference_area must be > 0'),
    (dict(scale_jitter=(0.0, 1.0)), r'0.0 < lo <= hi, got scale_jitter'),
    (dict(scale_jitter=(1.2, 0.8)), r'scale_jitter=\(1.2, 0.8\)'),
    (dict(scale_jitter=(1.0, )), 'must be a pair'),
    (dict(prob=-0.1), r'prob must be in \[0, 1\], got prob=-0.1'),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AdaptiveRandomPaste(**kwargs)


def test_boundary_settings_are_accepted():
    mix = AdaptiveRandomPaste(min_area=0, reference_area=1, prob=0.0,
                              scale_jitter=(0.1, 0.1))
    assert mix.min_area == 0 and mix.reference_area == 1
    assert mix.scale_jitter == (0.1, 0.1) and mix.prob == 0.0


@pytest.mark.parametrize('make,message', BAD_BATCH_AUGMENT_INPUTS)
def test_bad_inputs_are_named(make, message):
    inputs, samples, _ = wide_batch([[(i, (0, 8, 0, 8))] for i in range(3)])
    with pytest.raises(ValueError, match=message):
        AdaptiveRandomPaste()(*make(inputs, samples))


def test_bad_samples_are_named():
    mix = AdaptiveRandomPaste()

    def batch():
        return wide_batch([[(i, (0, 8, 0, 8))] for i in range(3)])[:2]

    inputs, samples = batch()
    del samples[1].gt_instances
    with pytest.raises(ValueError, match=r'data_samples\[1\] has no gt_ins'):
        mix(inputs, samples)
    inputs, samples = batch()
    del samples[2].gt_instances.labels
    with pytest.raises(ValueError, match=r'\[2\].gt_instances has no `lab'):
        mix(inputs, samples)
    inputs, samples = batch()
    samples[0].gt_instances.masks = [[0]]
    with pytest.raises(TypeError, match=r'\[0\].gt_instances.masks must be'):
        mix(inputs, samples)


def test_occlusion_of_no_masks():
    empty = torch.zeros(0, 4, 5, dtype=torch.bool)
    assert remove_occluded_pixels(empty).shape == (0, 4, 5)
