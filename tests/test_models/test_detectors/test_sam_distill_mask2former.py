# Copyright (c) s4m-mm authors. All rights reserved.
"""Stage 1: the SD teacher trains, keeps SAM out of its gradients and its
checkpoint, and its weights load into stock mmdet Mask2Former."""
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from s4m_mm.testing import get_config_path, tiny_sam2_cfg, tiny_teacher_cfg

BASELINE = get_config_path('s4m/demo/mask2former_effl0_nuclei_sup.py')
#: SAM on the in-memory batch itself (the demo teacher's is 'source')
SD_FRAME = 'view'


def batch(n=2, size=64):
    torch.manual_seed(0)
    inputs = torch.randint(0, 255, (n, 3, size, size)).float()
    samples = []
    for i in range(n):
        masks = torch.zeros(2, size, size, dtype=torch.uint8)
        masks[0, 5:20, 5:25] = 1
        masks[1, 30:50, 35:60] = 1
        gt = InstanceData(
            masks=BitmapMasks(masks.numpy(), size, size),
            labels=torch.zeros(2, dtype=torch.long),
            bboxes=torch.tensor([[5., 5., 25., 20.], [35., 30., 60., 50.]]))
        s = DetDataSample(metainfo=dict(
            img_shape=(size, size), ori_shape=(size, size),
            batch_input_shape=(size, size), pad_shape=(size, size),
            scale_factor=(1., 1.)))
        s.gt_instances = gt
        samples.append(s)
    return {'inputs': list(inputs), 'data_samples': samples}


@pytest.fixture(scope='module')
def teacher():
    torch.manual_seed(0)
    return MODELS.build(tiny_teacher_cfg(sd_frame=SD_FRAME).model)


def test_loss_has_sd_and_gradients_skip_sam(teacher):
    teacher.train()
    data = teacher.data_preprocessor(batch(), True)
    losses = teacher.loss(data['inputs'], data['data_samples'])
    assert 'loss_sd' in losses and 'd0.loss_sd' not in losses
    assert torch.isfinite(losses['loss_sd']) and losses['loss_sd'] > 0
    losses['loss_sd'].backward()
    pix = teacher.panoptic_head.pixel_decoder
    grads = [p.grad for p in pix.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    frozen = list(teacher.predictor.adapter.sam.parameters())
    assert all(p.grad is None for p in frozen)
    assert not any(p.requires_grad for p in frozen)
    # the transformer decoder does not take part in L_SD
    dec = teacher.panoptic_head.transformer_decoder
    assert all(p.grad is None for p in dec.parameters())


def test_stage1_step_with_sam2():
    """One optimiser step of the SD teacher with a (random, 128 px)
    SAM 2 Hiera-tiny: L_SD from SAM 2's point features, gradients in the
    pixel decoder and none in SAM."""
    cfg = tiny_teacher_cfg(sd_frame=SD_FRAME,
                           sam=tiny_sam2_cfg(img_size=128))
    torch.manual_seed(0)
    teacher = MODELS.build(cfg.model)
    assert teacher.predictor.adapter.embed_size == (8, 8)
    teacher.train()
    data = teacher.data_preprocessor(batch(), True)
    losses = teacher.loss(data['inputs'], data['data_samples'])
    assert torch.isfinite(losses['loss_sd']) and losses['loss_sd'] > 0
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    pix = teacher.panoptic_head.pixel_decoder
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in pix.parameters())
    assert all(p.grad is None
               for p in teacher.predictor.adapter.sam.parameters())


def test_sam_sees_the_pixels_the_model_sees(teacher):
    data = teacher.data_preprocessor(batch(), True)
    rgb = teacher.input_rgb(data['inputs'])
    raw = torch.stack(batch()['inputs'])
    # BGR input -> RGB, the batch padded to 256 px by the batch augment
    assert torch.allclose(rgb[..., :64, :64], raw.flip(1), atol=1e-3)
    mean = teacher.data_preprocessor.mean.view(3)
    assert torch.allclose(rgb[0, :, 100, 100], mean, atol=1e-3)


def test_checkpoint_has_no_sam_and_loads_into_stock_mask2former(teacher):
    state = teacher.state_dict()
    assert not any('sam' in k.split('.')[0] for k in state)
    assert not any(k.startswith('sam.') for k in state)
    cfg = Config.fromfile(BASELINE)
    cfg.model.backbone.checkpoint = None
    stock = MODELS.build(cfg.model)
    assert type(stock).__name__ == 'Mask2Former'
    assert type(stock.panoptic_head).__name__ == 'Mask2FormerHead'
    stock.load_state_dict(state, strict=True)


def test_wrong_head_type_is_refused():
    cfg = tiny_teacher_cfg(sd_frame=SD_FRAME)
    cfg.model.panoptic_head.type = 'Mask2FormerHead'
    for key in ('num_sd_points', 'sd_fg_ratio', 'loss_sd'):
        cfg.model.panoptic_head.pop(key)
    with pytest.raises(TypeError, match='SAMDistillMask2FormerHead'):
        MODELS.build(cfg.model)


def test_predict_does_not_need_sam(teacher):
    teacher.eval()
    data = teacher.data_preprocessor(batch(1), False)
    frozen = teacher.predictor.adapter.sam
    frozen.to('meta')  # SAM unusable: predict must not touch it
    try:
        (res, ) = teacher.predict(data['inputs'], data['data_samples'])
    finally:
        frozen.to_empty(device='cpu')
    assert res.pred_instances.masks.shape[-2:] == (64, 64)
