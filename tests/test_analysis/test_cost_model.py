# Copyright (c) s4m-mm authors. All rights reserved.
"""s4m_mm.analysis.cost_model: the parts, ratios and estimates of
tools/analysis/cost_model.py, against values worked out by hand."""
import pytest
import torch

from s4m_mm.analysis.cost_model import (amortised_fill_flops, arp_ops,
                                        cost_table, ema_flops,
                                        expected_blur_taps, linear_fit,
                                        method_parts, optimizer_flops,
                                        store_entry_bytes, strong_aug_flops,
                                        total)
from s4m_mm.analysis.flops import count_flops
from s4m_mm.models.data_preprocessors import StrongPhotometricAug

G = 1e9
SHARED = dict(teacher=10 * G, strong_aug=1 * G, student=30 * G,
              optimizer=2 * G, ema=1 * G, arp=0.5 * G)
SAM = dict(encoder=60 * G, decoder_view=4 * G, decoder_source=3 * G,
           warp=1 * G, store_fill=2 * G)


def test_method_parts_of_each_method():
    mean_teacher = method_parts(SHARED)
    assert mean_teacher == dict(teacher=10 * G, strong_aug=1 * G,
                                student=30 * G, optimizer=2 * G, ema=1 * G)
    view = method_parts(SHARED, SAM, 'view')
    assert view == dict(mean_teacher, sam_encoder=60 * G,
                        sam_decoder=4 * G, arp=0.5 * G)
    store = method_parts(SHARED, SAM, 'store')
    assert store == dict(mean_teacher, store_fill=2 * G, sam_decoder=3 * G,
                         warp=1 * G, arp=0.5 * G)
    # 44, 44 + 64.5 and 44 + 6.5 GFLOPs
    assert total(mean_teacher) == 44 * G
    assert total(view) == 108.5 * G and total(store) == 50.5 * G
    with pytest.raises(ValueError, match='frame'):
        method_parts(SHARED, SAM, 'source')


def test_cost_table_prints_parts_totals_and_ratios():
    mean_teacher = method_parts(SHARED)
    table = cost_table([('mean teacher', '', mean_teacher),
                        ('sam', 'per view', method_parts(SHARED, SAM)),
                        ('sam', 'store',
                         method_parts(SHARED, SAM, 'store'))], mean_teacher)
    rows = {line[:22].strip(): line[22:].split()
            for line in table.splitlines()[2:]}
    assert list(rows) == [
        'teacher', 'sam_encoder', 'store_fill', 'sam_decoder', 'warp',
        'arp', 'strong_aug', 'student', 'optimizer', 'ema', 'total',
        '/ mean teacher'
    ]
    assert rows['sam_encoder'] == ['-', '60.0', '-']
    assert rows['sam_decoder'] == ['-', '4.0', '3.0']
    assert rows['total'] == ['44.0', '108.5', '50.5']
    # 108.5 / 44 = 2.466, 50.5 / 44 = 1.148
    assert rows['/ mean teacher'] == ['1.00x', '2.47x', '1.15x']


def test_linear_fit_and_amortised_fill():
    assert linear_fit(5.0, 8.0) == (2.0, 3.0)  # 2 + 3 n
    # 100 FLOPs an image, 10 images over 5 iterations of 2 GPUs
    assert amortised_fill_flops(100, 10, 5, 2) == 100
    assert ema_flops(7) == 21 and optimizer_flops(7) == 112


def test_expected_blur_taps():
    # sigma in (0.1, 1/3] -> k = 3, then (m - 1) / 3 < sigma <= m / 3 ->
    # k = 2 m + 1 for m = 2..6, each a third of the 1.9 range
    by_hand = ((1 / 3 - 0.1) * 9 + (25 + 49 + 81 + 121 + 169) / 3) / 1.9
    assert expected_blur_taps((0.1, 2.0)) == pytest.approx(by_hand)
    assert expected_blur_taps((0.4, 0.6)) == pytest.approx(25)
    assert expected_blur_taps((1.0, 1.0)) == 49


def test_strong_aug_blur_estimate_equals_the_real_modules_count():
    # only the blur, with k = 5 whatever the draw: 2 x 25 FLOPs a value
    aug = StrongPhotometricAug(color_jitter_prob=0, grayscale_prob=0,
                               blur_prob=1, blur_sigma=(0.4, 0.6),
                               generator_seed=0)
    from mmdet.structures import DetDataSample
    images = torch.rand(2, 3, 16, 24) * 255
    samples = [DetDataSample(metainfo=dict(img_shape=(16, 24)))
               for _ in range(2)]
    counted = count_flops(aug, images, samples)
    assert counted.total == 2 * 3 * 16 * 24 * 2 * 25
    assert strong_aug_flops(2, (16, 24), 0, 0, 1, (0.4, 0.6)) == \
        counted.total
    # colour jitter and grayscale add their per-pixel estimates
    assert strong_aug_flops(2, (16, 24), 1, 1, 0) == 2 * 16 * 24 * (121 + 5)


def test_arp_ops():
    # 4 selects a pixel and one op a pixel of each of the 2.5 masks
    assert arp_ops(3, (10, 20), 2.5) == 3 * 200 * 6.5


def test_store_entry_bytes():
    # SAM 2 Hiera-L: the embedding and two high-resolution levels, fp16
    hiera_l = [(256, 64, 64), (32, 256, 256), (64, 128, 128)]
    assert store_entry_bytes(hiera_l, 2) == 8 * 2**20
    assert store_entry_bytes([(256, 64, 64)], 2) == 2 * 2**20  # ViT-H
