# Copyright (c) s4m-mm authors. All rights reserved.
"""FLOPs of real modules, counted with torch's own counter
(``torch.utils.flop_counter.FlopCounterMode``).

Torch counts matrix products, convolutions and the fused attention kernels
of CUDA (a multiply-add is 2 FLOPs) and nothing else: elementwise ops,
reductions and normalisations are free. :data:`EXTRA_FLOP_FORMULAS` adds

- the fused attention of the CPU (``F.scaled_dot_product_attention`` on a
  CPU tensor, which torch leaves out), with torch's own formulas;
- bilinear resampling (``F.interpolate(mode='bilinear')`` and
  ``F.grid_sample``), the work of mask upsampling and of the source-frame
  warp: :data:`RESAMPLE_FLOPS` per output value, and as much again per
  gradient in the backward pass.

The counter dispatches on shapes only, so a module can also be counted on
the meta device (:func:`count_flops_on_meta`): no memory and no time for a
ViT-H at 1024, as long as the module's control flow does not read tensor
values.
"""
from dataclasses import dataclass, field
from math import prod
from typing import Any, Callable, Dict

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import (FlopCounterMode, sdpa_backward_flop,
                                      sdpa_flop)

aten = torch.ops.aten

#: FLOPs per output value of bilinear resampling: 4 multiplies by the tap
#: weights and 3 additions (the weights, shared along rows and columns or
#: computed once per grid point, are left out)
RESAMPLE_FLOPS = 7


def resample_flop(input_shape, *args, out_shape=None, **kwargs) -> int:
    """Bilinear upsampling / grid sampling: :data:`RESAMPLE_FLOPS` per
    output value."""
    return RESAMPLE_FLOPS * prod(out_shape)


def resample_backward_flop(grad_output_shape, *args, out_shape=None,
                           **kwargs) -> int:
    """The gradient of the input of a bilinear resize: the forward's taps
    once more, per output value."""
    return RESAMPLE_FLOPS * prod(grad_output_shape)


def grid_sample_backward_flop(grad_output_shape, input_shape, grid_shape,
                              interpolation_mode, padding_mode,
                              align_corners, output_mask, *args,
                              out_shape=None, **kwargs) -> int:
    """``grid_sampler_2d_backward``: the forward's taps once per gradient
    asked for (of the input and / or of the grid)."""
    return RESAMPLE_FLOPS * prod(grad_output_shape) * sum(
        bool(m) for m in output_mask)


def _as_registered(formula: Callable[..., int]) -> Callable[..., int]:
    """A formula of torch's registry (already given shapes instead of
    tensors) as a ``custom_mapping`` value that is not wrapped again."""

    def registered(*args, **kwargs):
        return formula(*args, **kwargs)

    registered._get_raw = True
    return registered


#: the formulas :func:`count_flops` adds to torch's
EXTRA_FLOP_FORMULAS: Dict[Any, Callable[..., int]] = {
    aten._scaled_dot_product_flash_attention_for_cpu:
    _as_registered(sdpa_flop),
    aten._scaled_dot_product_flash_attention_for_cpu_backward:
    _as_registered(sdpa_backward_flop),
    aten.upsample_bilinear2d: resample_flop,
    aten._upsample_bilinear2d_aa: resample_flop,
    aten.grid_sampler_2d: resample_flop,
    aten.upsample_bilinear2d_backward: resample_backward_flop,
    aten._upsample_bilinear2d_aa_backward: resample_backward_flop,
    aten.grid_sampler_2d_backward: grid_sample_backward_flop,
}


@dataclass
class FlopCount:
    """What :func:`count_flops` counted.

    Attributes:
        total (int): FLOPs of the call.
        by_op (dict[str, int]): FLOPs per aten op (``'aten.mm'``, ...).
        result: the call's return value.
    """
    total: int = 0
    by_op: Dict[str, int] = field(default_factory=dict)
    result: Any = None


def count_flops(fn: Callable, *args, **kwargs) -> FlopCount:
    """FLOPs of ``fn(*args, **kwargs)`` (its backward passes included when
    it calls ``.backward()``), with :data:`EXTRA_FLOP_FORMULAS`."""
    counter = FlopCounterMode(
        display=False, custom_mapping=EXTRA_FLOP_FORMULAS)
    with counter:
        result = fn(*args, **kwargs)
    by_op = {
        str(op): int(flops)
        for op, flops in counter.get_flop_counts().get('Global', {}).items()
    }
    return FlopCount(sum(by_op.values()), by_op, result)


class _Call(nn.Module):
    """``module`` as a submodule of a module whose forward is ``fn``, so
    that :func:`torch.func.functional_call` can swap its tensors while
    ``fn`` (e.g. an adapter method) runs."""

    def __init__(self, module: nn.Module, fn: Callable) -> None:
        super().__init__()
        self.module = module
        # not a submodule, even when ``fn`` is a module (e.g. ``module``)
        object.__setattr__(self, 'fn', fn)

    def forward(self, *args, **kwargs):
        return self.fn(*args, **kwargs)


def count_flops_on_meta(module: nn.Module, fn: Callable, *args,
                        **kwargs) -> FlopCount:
    """:func:`count_flops` of ``fn(*args, **kwargs)`` while every parameter
    and buffer of ``module`` is swapped for a meta tensor of its shape
    (``module`` itself is left as it was). The inputs should be meta
    tensors too; the result is then a meta tensor (shapes only)."""
    meta = {
        f'module.{name}': torch.empty_like(tensor, device='meta')
        for name, tensor in [*module.named_parameters(),
                             *module.named_buffers()]
    }
    wrapper = _Call(module, fn)
    return count_flops(functional_call, wrapper, meta, args, kwargs)
