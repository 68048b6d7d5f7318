# Copyright (c) s4m-mm authors. All rights reserved.
"""s4m_mm.analysis.flops against FLOPs counted by hand (a multiply-add is 2
FLOPs)."""
import torch
import torch.nn.functional as F
from torch import nn

from s4m_mm.analysis.flops import (EXTRA_FLOP_FORMULAS, RESAMPLE_FLOPS,
                                   count_flops, count_flops_on_meta)


def test_linear_forward_and_backward():
    linear = nn.Linear(3, 5)
    x = torch.randn(4, 3, requires_grad=True)
    # forward 2 N in out; backward: the input's and the weight's gradients,
    # as much again each (the bias's gradient is a sum: free)
    assert count_flops(linear, x).total == 2 * 4 * 3 * 5
    counted = count_flops(lambda: linear(x).sum().backward())
    assert counted.total == 3 * 2 * 4 * 3 * 5
    # an input without gradient: the weight's only
    frozen_input = torch.randn(4, 3)
    assert count_flops(
        lambda: linear(frozen_input).sum().backward()).total == 2 * 2 * 60


def test_convolution():
    conv = nn.Conv2d(3, 4, 3, padding=1, stride=2)
    x = torch.randn(2, 3, 8, 8)
    # 2 x C_in x k^2 per output value, 2 x 4 x 4 x 4 outputs
    assert count_flops(conv, x).total == 2 * 3 * 9 * (2 * 4 * 4 * 4)


def test_attention_on_the_cpu_is_counted():
    q = torch.randn(2, 4, 16, 8)  # batch, heads, tokens, head dim
    counted = count_flops(F.scaled_dot_product_attention, q, q, q)
    # q k^T and the weighted sum of v: 2 x 2 B h L^2 d
    assert counted.total == 4 * 2 * 4 * 16 * 16 * 8
    assert list(counted.by_op) == [
        'aten._scaled_dot_product_flash_attention_for_cpu'
    ]
    q.requires_grad_(True)
    backward = count_flops(
        lambda: F.scaled_dot_product_attention(q, q, q).sum().backward())
    # the forward's 2 products, then 5 in the backward pass (the scores
    # again, the gradients of v, of the scores, of q and of k)
    assert backward.total == 7 * 2 * 2 * 4 * 16 * 16 * 8


def test_bilinear_resampling():
    # 4 taps: 4 multiplies and 3 additions an output value
    assert RESAMPLE_FLOPS == 7
    x = torch.randn(1, 2, 4, 4, requires_grad=True)
    assert count_flops(F.interpolate, x, size=(8, 6),
                       mode='bilinear').total == 7 * 2 * 8 * 6
    # the backward pass: the taps once more, per value of the gradient
    counted = count_flops(lambda: F.interpolate(
        x, size=(8, 6), mode='bilinear').sum().backward())
    assert counted.by_op == {
        'aten.upsample_bilinear2d': 7 * 2 * 8 * 6,
        'aten.upsample_bilinear2d_backward': 7 * 2 * 8 * 6
    }
    # nearest is a copy
    assert count_flops(F.interpolate, x, size=(8, 6),
                       mode='nearest').total == 0
    grid = torch.zeros(1, 5, 3, 2, requires_grad=True)
    forward = 7 * 2 * 5 * 3
    assert count_flops(F.grid_sample, x, grid,
                       align_corners=False).total == forward
    # the backward pass: the input's and the grid's gradients
    counted = count_flops(lambda: F.grid_sample(
        x, grid, align_corners=False).sum().backward())
    assert counted.by_op == {
        'aten.grid_sampler_2d': forward,
        'aten.grid_sampler_2d_backward': 2 * forward
    }


def test_without_the_extra_formulas_torch_misses_them():
    # why EXTRA_FLOP_FORMULAS exists: torch alone counts nothing here
    from torch.utils.flop_counter import FlopCounterMode
    q = torch.randn(1, 1, 4, 2)
    counter = FlopCounterMode(display=False)
    with counter:
        F.scaled_dot_product_attention(q, q, q)
        F.interpolate(q, size=(8, 4), mode='bilinear')
    assert counter.get_total_flops() == 0
    assert len(EXTRA_FLOP_FORMULAS) == 8


def test_meta_counts_equal_real_ones_and_leave_the_module_alone():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(),
                        nn.Linear(8 * 6 * 6, 10))
    real = count_flops(net, torch.randn(2, 3, 8, 8))
    meta = count_flops_on_meta(net, net, torch.empty(2, 3, 8, 8,
                                                     device='meta'))
    assert meta.total == real.total == 2 * (2 * 27 * 8 * 36) + 2 * (
        2 * 288 * 10)
    assert meta.result.device.type == 'meta'
    assert all(p.device.type == 'cpu' for p in net.parameters())


def test_meta_count_of_a_sam_encoder_equals_the_cpu_count():
    from mmdet.registry import MODELS
    from s4m_mm.testing import tiny_sam_cfg
    torch.manual_seed(0)
    sam = MODELS.build(tiny_sam_cfg())
    images = torch.rand(1, 3, 48, 64) * 255
    real = count_flops(sam.embed_images, images)
    meta = count_flops_on_meta(sam.sam, sam.embed_images,
                               images.to('meta'))
    assert real.total > 0
    assert meta.by_op == real.by_op
    assert meta.result.image.shape == real.result.image.shape == (1, 256, 4,
                                                                  4)
