# Copyright (c) s4m-mm authors. All rights reserved.
"""replay_arp_masks: the pastes of an AdaptiveRandomPaste call applied to
other masks of the batch (the ground truth of the quality hook's ``arp``
stage)."""
import pytest
import torch
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample
from s4m_mm.evaluation import replay_arp_masks
from s4m_mm.models.data_preprocessors import AdaptiveRandomPaste

torch.set_num_threads(1)

SIZE = 64


def rect(y1, y2, x1, x2, size=SIZE):
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[y1:y2, x1:x2] = True
    return mask


def batch_of(masks_per_image, seed=0):
    """Noise inputs and samples whose pseudo-labels are the given masks."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, 256, (len(masks_per_image), 3, SIZE, SIZE),
                           generator=generator).float()
    samples = []
    for masks in masks_per_image:
        sample = DetDataSample()
        sample.gt_instances = InstanceData(
            masks=masks.clone(),
            labels=torch.zeros(len(masks), dtype=torch.long))
        samples.append(sample)
    return inputs, samples


def disjoint_layout(index):
    """Two pastable rectangles and a small one, shifted per image."""
    return torch.stack([
        rect(4 + 2 * index, 20 + 2 * index, 4, 24),
        rect(30, 50, 30 + 2 * index, 50 + 2 * index),
        rect(55, 58, 5, 8)
    ])


@pytest.mark.parametrize('scale_jitter', [None, (0.5, 1.5)])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_replay_of_the_pseudo_labels_gives_the_mixed_pseudo_labels(
        scale_jitter, seed):
    masks = [disjoint_layout(i) for i in range(5)]
    inputs, samples = batch_of(masks, seed)
    # min_area 3000 at 1024 x 1024 is ~11.7 px here: the 9 px instance
    # stays home, and its GT must not travel either
    mix = AdaptiveRandomPaste(scale_jitter=scale_jitter, generator_seed=seed)
    _, samples = mix(inputs, samples)
    assert mix.last_mix.pastes, 'the case must paste something'
    replayed = replay_arp_masks(masks, mix.last_mix)
    for sample, gt in zip(samples, replayed):
        assert torch.equal(gt, sample.gt_instances.masks)


def test_replay_restricts_the_source_gt_to_the_pasted_regions():
    # pseudo-labels: one 20 x 20 square per image; GT: a larger square
    # holding it and a far one the pseudo-labels missed
    pseudo = [rect(10, 30, 10, 30)[None] for _ in range(3)]
    gt = [
        torch.stack([rect(8, 34, 8, 34), rect(50, 60, 50, 60)])
        for _ in range(3)
    ]
    inputs, samples = batch_of(pseudo)
    mix = AdaptiveRandomPaste(min_area=0, generator_seed=0)
    mix(inputs, samples)
    paste = mix.last_mix.pastes[0]
    source, target = paste.source, paste.target
    replayed = replay_arp_masks(gt, mix.last_mix)
    region = rect(10, 30, 10, 30)
    # the receiver's GT loses the pasted region; the source's GT restricted
    # to it is appended (its far square lies outside: dropped)
    assert len(replayed[target]) == 3
    assert torch.equal(replayed[target][0], rect(8, 34, 8, 34) & ~region)
    assert torch.equal(replayed[target][1], rect(50, 60, 50, 60))
    assert torch.equal(replayed[target][2], region)
    unpaired = ({0, 1, 2} - {source, target}).pop()
    assert torch.equal(replayed[unpaired], gt[unpaired])


def test_replay_follows_scale_jitter_and_drops_empty_masks():
    pseudo = [rect(10, 30, 10, 30)[None] for _ in range(3)]
    gt = [
        torch.stack([rect(10, 20, 10, 30), rect(20, 30, 10, 30)])
        for _ in range(3)
    ]
    inputs, samples = batch_of(pseudo)
    mix = AdaptiveRandomPaste(min_area=0, scale_jitter=(2., 2.),
                              generator_seed=0)
    _, samples = mix(inputs, samples)
    paste = mix.last_mix.pastes[0]
    top, left = paste.top, paste.left
    replayed = replay_arp_masks(gt, mix.last_mix)[paste.target]
    # the 20 x 20 pseudo-label becomes 40 x 40: the receiver's own GT is
    # covered where it overlaps, the source's two GT halves are 20 x 40
    pasted = rect(top, top + 40, left, left + 40)
    own = [m & ~pasted for m in gt[paste.target]]
    own = [m for m in own if m.any()]
    expected = own + [
        rect(top, top + 20, left, left + 40),
        rect(top + 20, top + 40, left, left + 40)
    ]
    assert len(replayed) == len(expected)
    for got, want in zip(replayed, expected):
        assert torch.equal(got, want)


def test_replay_errors_name_the_fault():
    mix = AdaptiveRandomPaste(min_area=0, generator_seed=0)
    with pytest.raises(TypeError, match='needs the ARPRecord.*got NoneType'):
        replay_arp_masks([torch.zeros(0, SIZE, SIZE, dtype=torch.bool)],
                         mix.last_mix)  # before any call
    masks = [disjoint_layout(i) for i in range(3)]
    mix(*batch_of(masks))
    with pytest.raises(ValueError, match='masks of 2 images for a mix of 3'):
        replay_arp_masks(masks[:2], mix.last_mix)
    with pytest.raises(ValueError, match=r'masks\[1\] must be \(G, 64, 64\)'):
        replay_arp_masks([masks[0], masks[1][:, :32], masks[2]],
                         mix.last_mix)
