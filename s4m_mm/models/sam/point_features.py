# Copyright (c) s4m-mm authors. All rights reserved.
"""Prompt-conditioned image tokens of many single-prompt decoder passes,
with what the prompts of an image share computed once per image.

SAM's mask decoder runs a two-way transformer (``TwoWayTransformer`` of
``segment_anything`` and of ``sam2``: the same blocks) between the prompt
tokens and the image tokens. Structural distillation needs, for every one
of P points per image, the image tokens after the last two-way block: run
naively that is P copies of the 64 x 64 x 256 image embedding through the
transformer. :func:`prompt_image_tokens` gives the same values (to float
rounding) with the image-side projections of the first two blocks done once
per image and the per-prompt work reduced to low-rank products (see its
docstring); :func:`reference_image_tokens` is the straightforward path.

Both take the transformer module and the prompt tokens, so they serve every
backend whose decoder has these blocks (SAM 1, LiteMedSAM, SAM 2).
"""
import math
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .precision import autocast_disabled


def _split_heads(x: Tensor, num_heads: int,
                 transposed: bool = False) -> Tensor:
    """``(..., N, C)`` to ``(..., heads, N, C / heads)``, as
    ``segment_anything``'s ``Attention._separate_heads``, or to ``(...,
    heads, C / heads, N)`` if ``transposed`` (a view either way)."""
    *batch, num, channels = x.shape
    x = x.reshape(*batch, num, num_heads, channels // num_heads)
    return x.permute(*range(len(batch)), -2, -1, -3) if transposed else \
        x.transpose(-3, -2)


def _attention_logits(q: Tensor, k_t: Tensor) -> Tensor:
    """``q @ k^T / sqrt(c)`` of ``Attention``, ``k`` given transposed
    (``(..., c, N_k)``)."""
    attn = q @ k_t
    return attn.div_(math.sqrt(q.shape[-1]))


def _add_product_(base: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """``base += a @ b`` in place for batches of matrices: one ``baddbmm_``,
    unless autocast runs the product in a lower precision (which ``base``
    is kept out of)."""
    if torch.is_autocast_enabled(base.device.type):
        return base.add_(torch.matmul(a, b))
    return base.baddbmm_(a, b)


def _token_updates(block: nn.Module, queries: Tensor, query_pe: Tensor,
                   img_k_t: Tensor, img_v: Tensor) -> Tensor:
    """Token-to-image attention and MLP of a ``TwoWayAttentionBlock``,
    given its projected image keys (transposed, ``(n, heads, c, h * w)``)
    and values (``(n, heads, h * w, c)``).

    Returns:
        Tensor: the updated tokens ``(n, T, C)``.
    """
    attn = block.cross_attn_token_to_image
    q = _split_heads(attn.q_proj(queries + query_pe), attn.num_heads)
    weights = torch.softmax(_attention_logits(q, img_k_t), dim=-1)
    out = weights @ img_v  # (n, heads, T, c)
    out = attn.out_proj(out.transpose(1, 2).flatten(2))
    queries = block.norm2(queries + out)
    return block.norm3(queries + block.mlp(queries))


def _image_to_token(attn: nn.Module, img_q_t: Tensor, queries: Tensor,
                    query_pe: Tensor) -> Tuple[Tensor, Tensor]:
    """Image-to-token attention of a ``TwoWayAttentionBlock`` in factored
    form, given its projected image queries (transposed, ``(n, heads, c,
    h * w)``): ``attn(q=..., k=queries + query_pe, v=queries)`` is
    ``weights @ values + attn.out_proj.bias``.

    ``out_proj`` is linear, so ``out_proj(concat_h(A_h @ V_h))`` is
    ``sum_h A_h @ (V_h @ W_o[:, h]^T) + b_o``: one ``(h * w, heads * T) @
    (heads * T, C)`` product per prompt instead of the ``(h * w, I) @
    (I, C)`` of ``out_proj``.

    Returns:
        tuple[Tensor, Tensor]: ``weights`` ``(n, h * w, heads * T)`` (the
        attention weights of all heads side by side; a transposed view of
        a contiguous ``(n, heads * T, h * w)``) and ``values``
        ``(n, heads * T, C)``.
    """
    heads = attn.num_heads
    k = _split_heads(attn.k_proj(queries + query_pe), heads)
    v = _split_heads(attn.v_proj(queries), heads)  # (n, heads, T, c)
    # (n, heads, T, h * w): the softmax over the T tokens runs on dim -2,
    # much faster than over a short last dim
    weights = torch.softmax(_attention_logits(k, img_q_t), dim=-2)
    num, _, tokens, size = weights.shape
    out_weight = attn.out_proj.weight  # (C, I)
    channels = out_weight.shape[0]
    values = v @ out_weight.t().reshape(heads, -1, channels)
    weights = weights.reshape(num, heads * tokens, size).transpose(1, 2)
    return weights, values.reshape(num, heads * tokens, channels)


def _normed_projection_factors(
        proj: nn.Linear, pe: Optional[Tensor], norm: nn.LayerNorm,
        img_centred: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """The per-image factors of ``proj(norm(x) + pe)`` for ``x =
    residual[index] + weights @ values`` (:func:`_normed_projection`).

    ``norm(x)`` is ``centre(x) * rstd * g + b`` row by row, and centring
    commutes with ``weights @``, so ``W norm(x) + W pe + bias`` is ``rstd *
    (W diag(g) centre(residual)[index] + weights @ (centre(values) diag(g)
    W^T)) + W b + W pe + bias``: a product per image, a low-rank product
    per prompt and the ``rstd`` of the rows of ``x``.

    Args:
        proj (nn.Linear): ``C -> I``.
        pe (Tensor, optional): ``(1, h * w, C)`` added to ``norm(x)``.
        norm (nn.LayerNorm): the norm over ``C``.
        img_centred (Tensor): ``centre(residual)`` ``(b, h * w, C)``,
            float32.

    Returns:
        tuple[Tensor, Tensor, Tensor]: float32 ``W diag(g)`` ``(I, C)``, the
        shift ``W b + W pe + bias`` (``(1, I, h * w)`` or ``(I, 1)``) and
        the image part ``W diag(g) centre(residual)`` ``(b, I, h * w)``.
    """
    weight = proj.weight.float()
    scaled = weight * norm.weight.float()
    shift = F.linear(norm.bias.float(), weight,
                     proj.bias.float()).unsqueeze(-1)
    if pe is not None:
        shift = shift + F.linear(pe.float(), weight).transpose(1, 2)
    return scaled, shift, torch.matmul(scaled, img_centred.transpose(1, 2))


def _normed_projection(factors: Tuple[Tensor, Tensor, Tensor],
                       index: Tensor, values_centred: Tensor,
                       weights_t: Tensor, rstd_t: Tensor,
                       heads: int) -> Tensor:
    """``proj(norm(x) + pe)`` of :func:`_normed_projection_factors` for the
    prompts, split into heads, without ``norm(x)``.

    Args:
        factors (tuple[Tensor, Tensor, Tensor]): from
            :func:`_normed_projection_factors`.
        index (Tensor): ``(n,)`` the image of each prompt.
        values_centred (Tensor): ``centre(values)`` ``(n, heads * T, C)``.
        weights_t (Tensor): ``weights`` transposed, ``(n, heads * T,
            h * w)``.
        rstd_t (Tensor): ``(n, 1, h * w)`` the rstd of the rows of ``x``.
        heads (int): number of heads.

    Returns:
        Tensor: ``(n, heads, I / heads, h * w)``, heads transposed.
    """
    scaled, shift, img = factors
    low_rank = torch.matmul(scaled, values_centred.transpose(1, 2))
    out = _add_product_(img[index], low_rank, weights_t)  # (n, I, h * w)
    out = torch.addcmul(shift, out, rstd_t, out=out)
    return out.unflatten(1, (heads, -1))


def image_side(transformer: nn.Module, image_tokens: Tensor,
               key_pe: Tensor) -> Dict[str, Any]:
    """The part of :func:`prompt_image_tokens` that all prompts of an image
    share, computed once per image (under the caller's autocast, if any).

    Args:
        transformer (nn.Module): the decoder's two-way transformer.
        image_tokens (Tensor): ``(b, h * w, C)`` image embedding tokens with
            the dense prompt embedding added, row-major over ``(h, w)``.
        key_pe (Tensor): ``(1, h * w, C)`` their positional encoding.

    Returns:
        dict: ``key_pe``; the layer-1 projections of the image tokens ``k``
        (token-to-image keys, transposed heads ``(b, heads, c, h * w)``),
        ``v`` (its values, ``(b, heads, h * w, c)``), ``q`` (image-to-token
        queries, transposed heads); ``residual`` ``(b, h * w, C)`` (image
        tokens plus the layer-1 image-to-token ``out_proj`` bias) and, with
        2+ layers, ``projections``: the factors of the key / value / query
        projections of layer 2 (:func:`_normed_projection_factors`).
    """
    layers = transformer.layers
    keys = image_tokens.contiguous()
    side = dict(key_pe=key_pe)
    t2i = layers[0].cross_attn_token_to_image
    i2t = layers[0].cross_attn_image_to_token
    keys_pe = keys + key_pe
    side['k'] = _split_heads(t2i.k_proj(keys_pe), t2i.num_heads,
                             transposed=True).contiguous()
    side['v'] = _split_heads(t2i.v_proj(keys), t2i.num_heads).contiguous()
    side['q'] = _split_heads(i2t.q_proj(keys_pe), i2t.num_heads,
                             transposed=True).contiguous()
    side['residual'] = keys + i2t.out_proj.bias
    if len(layers) > 1:
        norm = layers[0].norm4
        t2i = layers[1].cross_attn_token_to_image
        i2t = layers[1].cross_attn_image_to_token
        with autocast_disabled(keys.device):
            centred = side['residual'].float()
            centred = centred - centred.mean(dim=-1, keepdim=True)
            side['projections'] = [
                _normed_projection_factors(proj, pe, norm, centred)
                for proj, pe in ((t2i.k_proj, key_pe), (t2i.v_proj, None),
                                 (i2t.q_proj, key_pe))
            ]
    return side


def prompt_image_tokens(transformer: nn.Module, side: Dict[str, Any],
                        index: Tensor, tokens: Tensor) -> Tensor:
    """The image tokens after the last two-way block for many prompts,
    with what the prompts of an image share done once per image
    (:func:`image_side`).

    Equal up to float rounding to the image-token output of
    ``transformer(image[index], pe, tokens)`` (the backends' tests check it
    against each upstream transformer), without a per-prompt copy of the
    image embedding nor any ``(h * w, C) @ (C, I)`` or ``(h * w, I) @ (I,
    C)`` projection per prompt:

    - the final token-to-image attention and its norm only update the
      tokens: skipped;
    - layer 1 (no PE on its self-attention): its image tokens are those
      of the image, so the image side of both cross attentions
      (``k_proj`` / ``v_proj`` of the token-to-image one, ``q_proj`` of
      the image-to-token one) is projected per image. Per prompt remain
      the token updates (:func:`_token_updates`), the attention weights
      and the value path, where ``out_proj(A @ V)`` is ``A @ (V @
      W_o^T) + b_o`` head-wise (:func:`_image_to_token`);
    - layer 2: its image tokens are ``norm(x)``, ``x = residual + A @
      VW``, an image part plus a low-rank prompt part, so their
      projections are a per-image product, a low-rank per-prompt one and
      the row ``rstd`` of ``x`` (:func:`_normed_projection_factors`);
      its image-to-token ``out_proj`` is handled as in layer 1;
    - further layers (SAM has 2) run as they are.

    Args:
        transformer (nn.Module): the decoder's two-way transformer.
        side (dict): :func:`image_side` of the images.
        index (Tensor): ``(n,)`` long, the image of each prompt in
            ``side``.
        tokens (Tensor): ``(n, T, C)`` the decoder's output tokens followed
            by the sparse prompt embeddings (the transformer's
            ``point_embedding``).

    Returns:
        Tensor: ``(n, h * w, C)`` image tokens, the output of the last
        two-way attention block.
    """
    layers = transformer.layers
    # layer 1: its first self-attention has no residual nor PE
    layer = layers[0]
    queries = layer.norm1(layer.self_attn(q=tokens, k=tokens, v=tokens))
    queries = _token_updates(layer, queries, tokens, side['k'][index],
                             side['v'][index])
    weights, values = _image_to_token(layer.cross_attn_image_to_token,
                                      side['q'][index], queries, tokens)
    x = _add_product_(side['residual'][index], weights, values)
    if len(layers) == 1:
        return layer.norm4(x)

    # layer 2, its image tokens LN(x) only through their row rstd
    norm = layer.norm4
    layer = layers[1]
    t2i = layer.cross_attn_token_to_image
    i2t = layer.cross_attn_image_to_token
    # LN(x) plus the out_proj bias of layer 2's image-to-token attention
    # (keys = norm4(keys + attn_out)), and the row rstd
    keys, _, rstd = torch.native_layer_norm(x, norm.normalized_shape,
                                            norm.weight,
                                            norm.bias + i2t.out_proj.bias,
                                            norm.eps)
    del x
    factors = (index, values - values.mean(dim=-1, keepdim=True),
               weights.transpose(1, 2), rstd.transpose(1, 2))
    key_k, key_v, key_q = (
        _normed_projection(proj, *factors, heads=attn.num_heads)
        for proj, attn in zip(side['projections'], (t2i, t2i, i2t)))
    q = queries + tokens
    queries = layer.norm1(queries + layer.self_attn(q=q, k=q, v=queries))
    queries = _token_updates(layer, queries, tokens, key_k,
                             key_v.transpose(-2, -1))
    weights, values = _image_to_token(i2t, key_q, queries, tokens)
    del key_k, key_v, key_q
    keys = layer.norm4(_add_product_(keys, weights, values))
    for layer in layers[2:]:
        queries, keys = layer(
            queries=queries, keys=keys, query_pe=tokens,
            key_pe=side['key_pe'])
    return keys
