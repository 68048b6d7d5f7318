# Copyright (c) s4m-mm authors. All rights reserved.
"""CheckedPretrained: weights load only when they cover the module."""
import pytest
import torch
from mmengine.model import BaseModule
from mmengine.registry import init_default_scope
from torch import nn

from s4m_mm.models.utils.weight_init import CheckedPretrainedInit


def net():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


def weights(seed):
    """A state dict of ``net()`` with values of its own."""
    g = torch.Generator().manual_seed(seed)
    return {
        k: (torch.rand(v.shape, generator=g) if v.is_floating_point() else
            v + 7)
        for k, v in net().state_dict().items()
    }


def test_loads_every_weight_and_allows_extra_keys(tmp_path):
    state = weights(0)
    path = tmp_path / 'w.pth'
    torch.save({'state_dict': dict(state, **{'fc.weight': torch.ones(2)})},
               path)
    module = net()
    CheckedPretrainedInit(str(path))(module)
    for k, v in module.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_prefix_selects_and_strips_keys(tmp_path):
    backbone, head = weights(1), weights(2)
    path = tmp_path / 'detector.pth'
    torch.save({
        **{f'backbone.{k}': v for k, v in backbone.items()},
        **{f'head.{k}': v for k, v in head.items()}
    }, path)
    module = net()
    CheckedPretrainedInit(str(path), prefix='backbone.')(module)
    for k, v in module.state_dict().items():
        assert torch.equal(v, backbone[k]), k
    with pytest.raises(RuntimeError, match='lack 6 keys'):
        CheckedPretrainedInit(str(path), prefix='neck.')(net())


def test_missing_keys_are_an_error_naming_them(tmp_path):
    state = weights(3)
    del state['0.bias'], state['1.running_var']
    del state['1.num_batches_tracked']  # a counter may be missing
    path = tmp_path / 'partial.pth'
    torch.save(state, path)
    module = net()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    with pytest.raises(RuntimeError) as err:
        CheckedPretrainedInit(str(path))(module)
    msg = str(err.value)
    assert str(path) in msg and 'lack 2 keys of Sequential' in msg
    assert "'0.bias'" in msg and "'1.running_var'" in msg
    assert 'num_batches_tracked' not in msg
    for k, v in module.state_dict().items():  # nothing was loaded
        assert torch.equal(v, before[k]), k
    # without the counter only, it loads
    state = weights(3)
    del state['1.num_batches_tracked']
    torch.save(state, path)
    CheckedPretrainedInit(str(path))(module)
    assert torch.equal(module[0].bias, state['0.bias'])


def test_a_missing_file_says_how_to_get_it(tmp_path):
    missing = str(tmp_path / 'resnet50.pth')
    with pytest.raises(FileNotFoundError) as err:
        CheckedPretrainedInit(missing, hint='download it from X')(net())
    assert missing in str(err.value)
    assert str(err.value).endswith('. download it from X')
    with pytest.raises(FileNotFoundError) as err:
        CheckedPretrainedInit(missing)(net())
    assert not str(err.value).endswith('. ')


def test_as_init_cfg_of_a_module(tmp_path):
    state = weights(4)
    path = tmp_path / 'w.pth'
    torch.save({f'body.{k}': v for k, v in state.items()}, path)

    class Wrapped(BaseModule):

        def __init__(self):
            super().__init__(
                init_cfg=dict(type='CheckedPretrained', checkpoint=str(path)))
            self.body = net()

    init_default_scope('mmdet')  # where CheckedPretrained is registered
    module = Wrapped()
    module.init_weights()
    assert torch.equal(module.body[0].weight, state['0.weight'])
    assert torch.equal(module.body[1].running_mean,
                       state['1.running_mean'])
    # the record mmengine keeps while it initialises names the file
    plain = net()
    plain._params_init_info = {
        p: dict(init_info='random') for p in plain.parameters()
    }
    CheckedPretrainedInit(str(path), prefix='body.')(plain)
    assert {info['init_info'] for info in plain._params_init_info.values()
            } == {f'CheckedPretrained {path}'}
    assert CheckedPretrainedInit(str(path))._get_init_info() == \
        f'CheckedPretrainedInit: load from {path}'
