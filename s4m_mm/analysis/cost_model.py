# Copyright (c) s4m-mm authors. All rights reserved.
"""The arithmetic of ``tools/analysis/cost_model.py``: the parts of one
training iteration of S4M and of a mean teacher, the estimates of the parts
torch's FLOP counter cannot see (elementwise work) and the table.

The tool counts the matrix products, convolutions, attention and bilinear
resampling of the real modules (:mod:`s4m_mm.analysis.flops`); the parts made
of elementwise work only are estimated here, with the per-value costs
below (each an estimate, named where it is used):

- ``arp``: selects and logical ops of the paste (:func:`arp_ops`);
- ``strong_aug``: the colour ops, grayscale and the Gaussian blur's
  convolution (:func:`strong_aug_flops`);
- ``optimizer``: AdamW with gradient clipping (:func:`optimizer_flops`);
- ``ema``: the teacher's EMA (:func:`ema_flops`).
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

#: FLOPs per element of ``t.mul_(d).add_(s, alpha=1 - d)``
EMA_FLOPS = 3
#: FLOPs per trainable parameter of an optimizer step: AdamW's decoupled
#: weight decay (2), first and second moments (3 + 4), the step
#: ``m / (sqrt(v) / c + eps)`` (4), and the gradient clipping by norm (3)
OPTIMIZER_FLOPS = 16
#: FLOPs per pixel of torchvision's brightness (3 channels x mul, clamp:
#: 6), contrast (grayscale mean, blend, clamp: 20), saturation (grayscale,
#: blend, clamp: 20) and hue (RGB -> HSV -> RGB: about 75)
COLOR_JITTER_FLOPS_PER_PIXEL = 121
#: FLOPs per pixel of ``rgb_to_grayscale`` (3 multiplies, 2 adds)
GRAYSCALE_FLOPS_PER_PIXEL = 5
#: ops per pixel of ARP besides its pasted instances: the paste's select
#: of 3 channels and of the mask
ARP_OPS_PER_PIXEL = 4

#: the rows of the table, in order
PARTS = ('teacher', 'sam_encoder', 'store_fill', 'sam_decoder', 'warp',
         'arp', 'strong_aug', 'student', 'optimizer', 'ema')
#: parts every method has
SHARED_PARTS = ('teacher', 'strong_aug', 'student', 'optimizer', 'ema')


def linear_fit(at_one: float, at_two: float) -> Tuple[float, float]:
    """``(fixed, per_item)`` of a cost linear in a count from its values
    at 1 and 2 items: ``cost(n) = fixed + n * per_item``."""
    per_item = at_two - at_one
    return at_one - per_item, per_item


def expected_blur_taps(sigma_range: Sequence[float]) -> float:
    """``E[k^2]`` of the kernel ``k = 2 ceil(3 sigma) + 1`` of a blur with
    ``sigma ~ U(lo, hi)`` (:func:`blur_kernel_size` on an image wider than
    the kernel)."""
    lo, hi = float(sigma_range[0]), float(sigma_range[1])
    if hi <= lo:
        return float((2 * math.ceil(3 * lo) + 1)**2)
    total = 0.0
    for m in range(math.ceil(3 * lo), math.ceil(3 * hi) + 1):
        # sigma in ((m - 1) / 3, m / 3] gives ceil(3 sigma) = m
        width = min(hi, m / 3) - max(lo, (m - 1) / 3)
        if width > 0:
            total += width * (2 * m + 1)**2
    return total / (hi - lo)


def strong_aug_flops(num_images: int,
                     hw: Sequence[int],
                     color_jitter_prob: float = 0.8,
                     grayscale_prob: float = 0.2,
                     blur_prob: float = 0.5,
                     blur_sigma: Sequence[float] = (0.1, 2.0)) -> float:
    """Expected FLOPs of :class:`StrongPhotometricAug` on ``num_images``
    images of ``hw``: colour jitter and grayscale per pixel
    (:data:`COLOR_JITTER_FLOPS_PER_PIXEL`, :data:`GRAYSCALE_FLOPS_PER_PIXEL`
    , estimates) and the blur's depthwise ``k x k`` convolution, ``2 k^2``
    per value of the 3 channels."""
    pixels = num_images * hw[0] * hw[1]
    blur = 3 * 2 * expected_blur_taps(blur_sigma)
    return pixels * (color_jitter_prob * COLOR_JITTER_FLOPS_PER_PIXEL +
                     grayscale_prob * GRAYSCALE_FLOPS_PER_PIXEL +
                     blur_prob * blur)


def arp_ops(num_images: int, hw: Sequence[int],
            instances_per_image: float) -> float:
    """Elementwise ops of ARP on ``num_images`` images of ``hw`` (an
    upper estimate): the paste's selects over the image
    (:data:`ARP_OPS_PER_PIXEL` per pixel) and one op per pixel of each
    receiver mask (removing its occluded pixels); the rescale of a pasted
    instance is a nearest-neighbour copy (no arithmetic)."""
    return num_images * hw[0] * hw[1] * (ARP_OPS_PER_PIXEL +
                                         instances_per_image)


def ema_flops(num_elements: int) -> float:
    """FLOPs of the EMA of ``num_elements`` teacher parameters and float
    buffers (:data:`EMA_FLOPS` each)."""
    return float(EMA_FLOPS * num_elements)


def optimizer_flops(num_params: int) -> float:
    """FLOPs of an optimizer step of ``num_params`` trainable parameters
    (:data:`OPTIMIZER_FLOPS` each)."""
    return float(OPTIMIZER_FLOPS * num_params)


def amortised_fill_flops(encoder_flops: float, num_images: int,
                         iterations: int, gpus: int) -> float:
    """The encoder FLOPs of filling the store once (``num_images`` images)
    spread over the ``iterations x gpus`` per-GPU iterations of the
    schedule."""
    return encoder_flops * num_images / (iterations * gpus)


def store_entry_bytes(shapes: Sequence[Sequence[int]],
                      element_size: int) -> int:
    """Bytes of one store entry: every encoder output of an image (its
    ``shapes``, no batch dim) at ``element_size`` bytes a value."""
    return sum(math.prod(shape) for shape in shapes) * element_size


def method_parts(shared: Dict[str, float],
                 sam: Optional[Dict[str, float]] = None,
                 frame: str = 'view') -> Dict[str, float]:
    """FLOPs per part of one method's iteration.

    Args:
        shared (dict): ``teacher``, ``strong_aug``, ``student``,
            ``optimizer``, ``ema`` and ``arp``.
        sam (dict, optional): ``encoder``, ``decoder_view``,
            ``decoder_source``, ``warp`` and ``store_fill`` of one SAM;
            ``None``: the mean teacher (no SAM, no ARP).
        frame (str): ``'view'`` (SAM encodes every view) or ``'store'``
            (source frame with a warm store: no encoder, the amortised
            fill, decoding in the source frame and the warp).

    Returns:
        dict: part -> FLOPs, in :data:`PARTS` order; a method's missing
        parts are absent.
    """
    parts = {name: shared[name] for name in SHARED_PARTS}
    if sam is not None:
        parts['arp'] = shared['arp']
        if frame == 'view':
            parts.update(sam_encoder=sam['encoder'],
                         sam_decoder=sam['decoder_view'])
        elif frame == 'store':
            parts.update(store_fill=sam['store_fill'],
                         sam_decoder=sam['decoder_source'],
                         warp=sam['warp'])
        else:
            raise ValueError(f"frame must be 'view' or 'store', got "
                             f'{frame!r}')
    return {name: parts[name] for name in PARTS if name in parts}


def total(parts: Dict[str, float]) -> float:
    return float(sum(parts.values()))


def cost_table(columns: List[Tuple[str, str, Dict[str, float]]],
               baseline: Dict[str, float]) -> str:
    """The table of the tool: GFLOPs per part, the total and the ratio to
    ``baseline`` (the mean teacher) of each column.

    Args:
        columns (list[tuple[str, str, dict]]): ``(title, subtitle,
            parts)``, parts in FLOPs (:func:`method_parts`).
        baseline (dict): the mean teacher's parts.
    """
    width = 13
    lines = [
        f'{"":<22}' + ''.join(f'{t:>{width}}' for t, _, _ in columns),
        f'{"GFLOPs":<22}' + ''.join(f'{s:>{width}}' for _, s, _ in columns)
    ]
    for name in PARTS:
        if not any(name in parts for _, _, parts in columns):
            continue
        cells = [
            f'{parts[name] / 1e9:>{width}.1f}' if name in parts else
            f'{"-":>{width}}' for _, _, parts in columns
        ]
        lines.append(f'{name:<22}' + ''.join(cells))
    lines.append(f'{"total":<22}' + ''.join(
        f'{total(parts) / 1e9:>{width}.1f}' for _, _, parts in columns))
    lines.append(f'{"/ mean teacher":<22}' + ''.join(
        f'{total(parts) / total(baseline):>{width - 1}.2f}x'
        for _, _, parts in columns))
    return '\n'.join(lines)
