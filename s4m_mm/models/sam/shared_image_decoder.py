# Copyright (c) s4m-mm authors. All rights reserved.
"""SAM's mask decoder for N prompts on one image, without N copies of it.

``segment_anything``'s ``MaskDecoder.predict_masks`` repeats the image
embedding and its positional encoding once per prompt and runs the
two-way transformer on the N copies. Until the first block's
image-to-token attention writes into them, the N copies are equal, so the
first block's image-side projections (``k_proj`` / ``v_proj`` of the
token-to-image attention, ``q_proj`` of the image-to-token attention) are
computed once here and broadcast, and the positional encoding is never
copied. Everything else is the same arithmetic in the same order, so the
outputs equal ``MaskDecoder.forward``'s to float rounding
(``tests/test_models/test_sam/test_shared_image_decoder.py``).
"""
import math
from typing import Tuple

import torch
from segment_anything.modeling.mask_decoder import MaskDecoder
from segment_anything.modeling.transformer import (Attention,
                                                   TwoWayAttentionBlock,
                                                   TwoWayTransformer)
from torch import Tensor


def supports_shared_image(decoder) -> bool:
    """Whether ``decoder`` is ``segment_anything``'s ``MaskDecoder`` on its
    ``TwoWayTransformer``, whose arithmetic :func:`decode_on_one_image`
    reproduces."""
    transformer = getattr(decoder, 'transformer', None)
    return (type(decoder) is MaskDecoder
            and type(transformer) is TwoWayTransformer
            and all(type(layer) is TwoWayAttentionBlock
                    for layer in transformer.layers)
            and len(transformer.layers) > 0)


def _heads(x: Tensor, num_heads: int) -> Tensor:
    """``(B, L, C)`` -> ``(B, heads, L, C / heads)``."""
    b, n, c = x.shape
    return x.reshape(b, n, num_heads, c // num_heads).transpose(1, 2)


def _attend(attention: Attention, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """``Attention.forward`` on already projected ``q``, ``k``, ``v``
    (``(B, L, C')`` each; a batch of 1 broadcasts)."""
    h = attention.num_heads
    q, k, v = _heads(q, h), _heads(k, h), _heads(v, h)
    attn = q @ k.permute(0, 1, 3, 2)
    attn = attn / math.sqrt(q.shape[-1])
    attn = torch.softmax(attn, dim=-1)
    out = attn @ v
    b, _, n, c = out.shape
    return attention.out_proj(out.transpose(1, 2).reshape(b, n, h * c))


def _first_block(layer: TwoWayAttentionBlock, queries: Tensor, keys: Tensor,
                 query_pe: Tensor, key_pe: Tensor) -> Tuple[Tensor, Tensor]:
    """``TwoWayAttentionBlock.forward`` with ``keys`` / ``key_pe``
    ``(1, L, C)`` shared by the ``(N, T, C)`` queries.

    Returns:
        tuple[Tensor, Tensor]: queries ``(N, T, C)`` and keys ``(N, L, C)``.
    """
    if layer.skip_first_layer_pe:
        queries = layer.self_attn(q=queries, k=queries, v=queries)
    else:
        q = queries + query_pe
        queries = queries + layer.self_attn(q=q, k=q, v=queries)
    queries = layer.norm1(queries)

    t2i = layer.cross_attn_token_to_image
    keys_pe = keys + key_pe
    queries = queries + _attend(t2i, t2i.q_proj(queries + query_pe),
                                t2i.k_proj(keys_pe), t2i.v_proj(keys))
    queries = layer.norm2(queries)
    queries = layer.norm3(queries + layer.mlp(queries))

    i2t = layer.cross_attn_image_to_token
    q = queries + query_pe
    attn_out = _attend(i2t, i2t.q_proj(keys_pe), i2t.k_proj(q),
                       i2t.v_proj(queries))
    keys = layer.norm4(keys + attn_out)
    return queries, keys


def _transformer(transformer: TwoWayTransformer, image: Tensor,
                 image_pe: Tensor, tokens: Tensor) -> Tuple[Tensor, Tensor]:
    """``TwoWayTransformer.forward`` with ``image`` / ``image_pe``
    ``(1, C, h, w)`` shared by the ``(N, T, C)`` tokens."""
    keys = image.flatten(2).permute(0, 2, 1)
    key_pe = image_pe.flatten(2).permute(0, 2, 1)
    first, *rest = transformer.layers
    queries, keys = _first_block(first, tokens, keys, tokens, key_pe)
    for layer in rest:
        queries, keys = layer(queries=queries, keys=keys, query_pe=tokens,
                              key_pe=key_pe)
    q = queries + tokens
    attn_out = transformer.final_attn_token_to_image(
        q=q, k=keys + key_pe, v=keys)
    queries = transformer.norm_final_attn(queries + attn_out)
    return queries, keys


def decode_on_one_image(decoder: MaskDecoder, image: Tensor,
                        image_pe: Tensor, sparse: Tensor, dense: Tensor,
                        multimask_output: bool) -> Tuple[Tensor, Tensor]:
    """``decoder(image, image_pe, sparse, dense, multimask_output)`` for
    the N prompts of one image.

    Args:
        decoder (MaskDecoder): see :func:`supports_shared_image`.
        image (Tensor): ``(1, C, h, w)`` image embedding.
        image_pe (Tensor): ``(1, C, h, w)`` its positional encoding.
        sparse (Tensor): ``(N, T, C)`` prompt embeddings.
        dense (Tensor): ``(1, C, h, w)`` or ``(1, C, 1, 1)``, the dense
            embedding shared by the prompts (SAM's ``no_mask_embed``).
        multimask_output (bool): SAM's three masks instead of one.

    Returns:
        tuple[Tensor, Tensor]: low-resolution mask logits
        ``(N, M, 4h, 4w)`` and IoU predictions ``(N, M)``.
    """
    if image.shape[0] != 1 or dense.shape[0] != 1:
        raise ValueError('decode_on_one_image takes one image embedding and '
                         f'one dense embedding, got {tuple(image.shape)} and '
                         f'{tuple(dense.shape)}')
    n = sparse.shape[0]
    output_tokens = torch.cat(
        [decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
    tokens = torch.cat(
        (output_tokens.unsqueeze(0).expand(n, -1, -1), sparse), dim=1)
    _, c, h, w = image.shape
    hs, keys = _transformer(decoder.transformer, image + dense, image_pe,
                            tokens)
    iou_token_out = hs[:, 0, :]
    mask_tokens_out = hs[:, 1:(1 + decoder.num_mask_tokens), :]
    upscaled = decoder.output_upscaling(keys.transpose(1, 2).reshape(
        n, c, h, w))
    hyper_in = torch.stack([
        mlp(mask_tokens_out[:, i, :])
        for i, mlp in enumerate(decoder.output_hypernetworks_mlps)
    ], dim=1)
    _, c_up, h_up, w_up = upscaled.shape
    masks = (hyper_in @ upscaled.view(n, c_up, h_up * w_up)).view(
        n, -1, h_up, w_up)
    iou_pred = decoder.iou_prediction_head(iou_token_out)
    keep = slice(1, None) if multimask_output else slice(0, 1)
    return masks[:, keep], iou_pred[:, keep]
