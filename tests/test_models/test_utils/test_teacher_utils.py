# Copyright (c) s4m-mm authors. All rights reserved.
"""The teacher's arithmetic without a hook: EMA of parameters and
buffers against the formula by hand, weight copying, and loading a
stage-1 checkpoint (exact keys and shapes, clear errors)."""
import pytest
import torch
from torch import nn

from s4m_mm.models.utils import (copy_weights, ema_update,
                                 load_teacher_weights)


def net(seed):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    with torch.no_grad():  # buffers that differ between seeds
        model[1].running_mean.normal_()
        model[1].num_batches_tracked.fill_(seed)
    return model


def test_ema_update_matches_the_formula_for_parameters_and_buffers():
    teacher, student = net(0), net(1)
    t0 = {k: v.clone() for k, v in teacher.state_dict().items()}
    s0 = {k: v.clone() for k, v in student.state_dict().items()}
    ema_update(teacher, student, 0.75)
    state = teacher.state_dict()
    for key in ('0.weight', '0.bias', '1.weight', '1.bias',
                '1.running_mean', '1.running_var'):
        expected = 0.75 * t0[key] + 0.25 * s0[key]
        torch.testing.assert_close(state[key], expected, rtol=0, atol=1e-6)
    # the integer counter is copied, not averaged
    assert int(state['1.num_batches_tracked']) == 1
    # the student is not touched
    for key, value in student.state_dict().items():
        assert torch.equal(value, s0[key]), key


def test_ema_converges_to_a_fixed_student():
    teacher, student = net(0), net(1)
    for _ in range(200):
        ema_update(teacher, student, 0.9)
    for key, value in student.state_dict().items():
        torch.testing.assert_close(teacher.state_dict()[key].float(),
                                   value.float(), rtol=0, atol=1e-6)


def test_copy_weights_copies_everything():
    teacher, student = net(0), net(1)
    copy_weights(student, teacher)
    for key, value in student.state_dict().items():
        assert torch.equal(teacher.state_dict()[key], value), key
    # a copy, not shared storage
    with torch.no_grad():
        student[0].weight.add_(1.0)
    assert not torch.equal(teacher[0].weight, student[0].weight)


def test_load_teacher_weights_without_a_hook(tmp_path):
    state = net(7).state_dict()
    path = tmp_path / 'teacher.pth'
    torch.save({'state_dict': state, 'meta': {}}, path)
    teacher = net(3)
    assert load_teacher_weights(teacher, str(path)) == str(path)
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, state[key]), key
    # a bare state dict loads as well
    torch.save(net(8).state_dict(), tmp_path / 'bare.pth')
    load_teacher_weights(teacher, str(tmp_path / 'bare.pth'))
    assert torch.equal(teacher[0].weight, net(8)[0].weight)


def test_load_teacher_weights_errors(tmp_path):
    with pytest.raises(ValueError, match='teacher_checkpoint is None'):
        load_teacher_weights(net(0), None)
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        load_teacher_weights(net(0), str(tmp_path / 'missing.pth'))
    other = tmp_path / 'other.pth'
    torch.save({'state_dict': nn.Linear(3, 5).state_dict()}, other)
    # Linear(3, 5) against Linear(3, 4) + BatchNorm: 0.* keys unexpected,
    # all keys of the teacher missing
    with pytest.raises(RuntimeError, match=r'does not fit the teacher '
                       r'\(Sequential\): 7 missing keys.*2 unexpected keys'):
        load_teacher_weights(net(0), str(other))
