# Copyright (c) s4m-mm authors. All rights reserved.
"""SAM's mask decoder on one image without N copies of its embedding
equals ``segment_anything``'s ``MaskDecoder.forward``."""
import pytest
import torch
from segment_anything.modeling import MaskDecoder, TwoWayTransformer

from s4m_mm.models.sam.shared_image_decoder import (decode_on_one_image,
                                                    supports_shared_image)


def small_decoder(depth=2, skip_first_layer_pe=True):
    torch.manual_seed(0)
    decoder = MaskDecoder(
        transformer_dim=32,
        transformer=TwoWayTransformer(
            depth=depth, embedding_dim=32, mlp_dim=64, num_heads=2),
        num_multimask_outputs=3,
        iou_head_depth=2,
        iou_head_hidden_dim=16)
    decoder.transformer.layers[0].skip_first_layer_pe = skip_first_layer_pe
    # random, not SAM's zero-ish init, so every term matters
    for p in decoder.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return decoder.eval()


def inputs(num_prompts=5, tokens=3):
    g = torch.Generator().manual_seed(1)
    image = torch.randn(1, 32, 8, 8, generator=g)
    pe = torch.randn(1, 32, 8, 8, generator=g)
    sparse = torch.randn(num_prompts, tokens, 32, generator=g)
    dense = torch.randn(1, 32, 1, 1, generator=g)
    return image, pe, sparse, dense


@pytest.mark.parametrize('multimask', [True, False])
@pytest.mark.parametrize('depth, skip', [(2, True), (1, True), (3, False)])
def test_equals_the_decoders_own_forward(multimask, depth, skip):
    decoder = small_decoder(depth, skip)
    image, pe, sparse, dense = inputs()
    with torch.no_grad():
        ref_masks, ref_iou = decoder(image, pe, sparse,
                                     dense.expand(5, -1, 8, 8), multimask)
        masks, iou = decode_on_one_image(decoder, image, pe, sparse, dense,
                                         multimask)
    assert masks.shape == ref_masks.shape == (5, 3 if multimask else 1, 32,
                                              32)
    assert iou.shape == ref_iou.shape
    torch.testing.assert_close(masks, ref_masks, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(iou, ref_iou, rtol=1e-4, atol=1e-4)


def test_each_prompt_is_decoded_on_its_own():
    """A prompt's output does not depend on the other prompts."""
    decoder = small_decoder()
    image, pe, sparse, dense = inputs()
    with torch.no_grad():
        all_masks, all_iou = decode_on_one_image(decoder, image, pe, sparse,
                                                 dense, True)
        one_masks, one_iou = decode_on_one_image(decoder, image, pe,
                                                 sparse[3:4], dense, True)
    torch.testing.assert_close(all_masks[3:4], one_masks, rtol=1e-4,
                               atol=1e-4)
    torch.testing.assert_close(all_iou[3:4], one_iou, rtol=1e-4, atol=1e-4)


def test_more_than_one_image_is_refused():
    decoder = small_decoder()
    image, pe, sparse, dense = inputs()
    with pytest.raises(ValueError, match='one image embedding'):
        decode_on_one_image(decoder, image.repeat(2, 1, 1, 1), pe, sparse,
                            dense, True)


def test_other_decoders_are_not_claimed():

    class OtherDecoder(MaskDecoder):
        pass

    decoder = small_decoder()
    assert supports_shared_image(decoder)
    decoder.__class__ = OtherDecoder
    assert not supports_shared_image(decoder)


def test_adapter_gives_the_same_masks_both_ways(tiny_sam):
    adapter = tiny_sam
    g = torch.Generator().manual_seed(2)
    emb = adapter.embed_images(torch.rand(2, 3, 40, 48, generator=g) * 255)
    boxes = torch.tensor([[2., 3., 20., 30.], [10., 5., 40., 38.],
                          [0., 0., 47., 39.]])
    index = torch.tensor([0, 1, 1])
    shared = adapter.predict_best_masks(emb, index, boxes=boxes)
    adapter.shared_image_decoder = False
    repeated = adapter.predict_best_masks(emb, index, boxes=boxes)
    for a, b in zip(shared, repeated):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
