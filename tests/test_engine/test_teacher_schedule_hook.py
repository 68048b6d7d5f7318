# Copyright (c) s4m-mm authors. All rights reserved.
import copy
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MMLogger
from torch import nn

from s4m_mm.engine.hooks import TeacherScheduleHook


def net(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


class Pair(nn.Module):

    def __init__(self):
        super().__init__()
        self.student, self.teacher = net(0), net(1)


class Logger:
    """Keeps the messages of ``info``."""

    def __init__(self):
        self.messages = []

    def info(self, message):
        self.messages.append(message)


def runner(model, it=0, logger=None):
    return SimpleNamespace(model=model, iter=it,
                           logger=logger or MMLogger.get_instance('test_tsh'))


def run_iters(hook, model, start, stop):
    """Simulate training iterations [start, stop): the student changes."""
    for it in range(start, stop):
        with torch.no_grad():
            for p in model.student.parameters():
                p.add_(0.1 * (it + 1))
            model.student[1].running_mean.add_(1.0)
            model.student[1].num_batches_tracked.add_(1)
        hook.after_train_iter(runner(model, it), it)


@pytest.fixture
def stage1(tmp_path):
    state = net(7).state_dict()
    path = tmp_path / 'teacher.pth'
    torch.save({'state_dict': state, 'meta': {}}, path)
    return str(path), state


def test_fresh_run_loads_teacher_and_keeps_it_during_burn_in(stage1):
    path, state = stage1
    model = Pair()
    hook = TeacherScheduleHook(path, burn_in=5, decay=0.9)
    hook.before_train(runner(model, 0))
    for k, v in model.teacher.state_dict().items():
        assert torch.equal(v, state[k])
    run_iters(hook, model, 0, 4)  # iterations 1..4 done
    for k, v in model.teacher.state_dict().items():
        assert torch.equal(v, state[k])


def test_burn_in_copies_the_student_into_the_teacher(stage1):
    path, state = stage1
    model = Pair()
    logger = Logger()
    hook = TeacherScheduleHook(path, burn_in=3, decay=0.9)
    hook.before_train(runner(model, 0, logger))
    assert logger.messages == [f'teacher loaded from {path}']
    run_iters(hook, model, 0, 2)
    with torch.no_grad():  # iteration 3 changes the student, then the hook
        for p in model.student.parameters():
            p.add_(1.0)
    student = copy.deepcopy(model.student.state_dict())
    hook.after_train_iter(runner(model, 2, logger), 2)
    for k, v in model.student.state_dict().items():
        assert torch.equal(v, student[k]), k  # the student is not touched
        assert torch.equal(model.teacher.state_dict()[k], student[k]), k
    assert not torch.equal(student['0.weight'], state['0.weight'])
    assert logger.messages[-1] == ('burn-in over after 3 iterations: the '
                                   'teacher is now a copy of the student')


def test_load_teacher_without_a_runner(stage1):
    path, state = stage1
    teacher = net(3)
    TeacherScheduleHook(path).load_teacher(teacher)
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_the_hook_delegates_its_arithmetic(stage1, monkeypatch):
    # the hook decides when; copying and the EMA are the model utilities
    import s4m_mm.engine.hooks.teacher_schedule_hook as module
    calls = []
    monkeypatch.setattr(module, 'copy_weights',
                        lambda src, dst: calls.append('copy'))
    monkeypatch.setattr(module, 'ema_update',
                        lambda t, s, decay: calls.append(('ema', decay)))
    hook = TeacherScheduleHook(stage1[0], burn_in=2, decay=0.5)
    model = Pair()
    for it in range(4):
        hook.after_train_iter(runner(model, it), it)
    assert calls == ['copy', ('ema', 0.5), ('ema', 0.5)]


def test_no_burn_in_means_ema_from_the_first_iteration(stage1):
    path, state = stage1
    model = Pair()
    hook = TeacherScheduleHook(path, burn_in=0, decay=0.5)
    hook.before_train(runner(model, 0))
    student = copy.deepcopy(model.student.state_dict())
    hook.after_train_iter(runner(model, 0), 0)
    weight = model.teacher.state_dict()['0.weight']
    assert torch.allclose(weight,
                          0.5 * state['0.weight'] + 0.5 * student['0.weight'])


def test_copy_at_burn_in_then_ema(stage1):
    path, _ = stage1
    model = Pair()
    hook = TeacherScheduleHook(path, burn_in=3, decay=0.9)
    hook.before_train(runner(model, 0))
    run_iters(hook, model, 0, 3)
    for (k, t), s in zip(model.teacher.state_dict().items(),
                         model.student.state_dict().values()):
        assert torch.equal(t, s), k
    before = copy.deepcopy(model.teacher.state_dict())
    run_iters(hook, model, 3, 4)
    after, student = model.teacher.state_dict(), model.student.state_dict()
    for k in after:
        if after[k].is_floating_point():
            expected = 0.9 * before[k] + 0.1 * student[k]
            assert torch.allclose(after[k], expected), k
        else:
            assert torch.equal(after[k], student[k]), k


def test_init_student_from_teacher_only_in_a_fresh_run(stage1):
    path, state = stage1
    model = Pair()
    config_student = copy.deepcopy(model.student.state_dict())
    TeacherScheduleHook(path, burn_in=5).before_train(runner(model, 0))
    for k, v in model.student.state_dict().items():
        assert torch.equal(v, config_student[k])  # the paper's default
    hook = TeacherScheduleHook(path, burn_in=5, init_student='teacher')
    logger = Logger()
    hook.before_train(runner(model, 0, logger))
    assert logger.messages[-1] == 'student initialised from the teacher'
    for k, v in model.student.state_dict().items():
        assert torch.equal(v, state[k])
    run_iters(hook, model, 0, 2)
    trained = copy.deepcopy(model.student.state_dict())
    hook.before_train(runner(model, 2))  # --resume keeps the student
    for k, v in model.student.state_dict().items():
        assert torch.equal(v, trained[k])
    with pytest.raises(ValueError, match='init_student'):
        TeacherScheduleHook(path, init_student='imagenet')


def test_resume_keeps_checkpoint_teacher(stage1):
    path, state = stage1
    model = Pair()
    resumed = {k: v + 1 for k, v in model.teacher.state_dict().items()}
    model.teacher.load_state_dict(resumed)
    TeacherScheduleHook(path, burn_in=5).before_train(runner(model, 7))
    for k, v in model.teacher.state_dict().items():
        assert torch.equal(v, resumed[k])


def test_resume_gives_the_same_teacher_as_an_uninterrupted_run(stage1):
    path, _ = stage1
    straight = Pair()
    hook = TeacherScheduleHook(path, burn_in=3, decay=0.8)
    hook.before_train(runner(straight, 0))
    run_iters(hook, straight, 0, 6)

    first = Pair()
    hook = TeacherScheduleHook(path, burn_in=3, decay=0.8)
    hook.before_train(runner(first, 0))
    run_iters(hook, first, 0, 2)  # stopped before burn-in ends
    saved = copy.deepcopy(first.state_dict())
    second = Pair()
    second.load_state_dict(saved)  # what --resume restores
    hook = TeacherScheduleHook(path, burn_in=3, decay=0.8)
    hook.before_train(runner(second, 2))
    run_iters(hook, second, 2, 6)
    for k, v in straight.state_dict().items():
        assert torch.allclose(v.float(), second.state_dict()[k].float()), k


def test_teacher_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': nn.Linear(3, 5).state_dict()}, path)
    hook = TeacherScheduleHook(str(path), burn_in=1)
    with pytest.raises(RuntimeError, match='does not fit the teacher'):
        hook.before_train(runner(Pair(), 0))
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        TeacherScheduleHook(str(tmp_path / 'missing.pth')).before_train(
            runner(Pair(), 0))


def test_defaults_are_the_papers():
    hook = TeacherScheduleHook('x')
    assert (hook.burn_in, hook.decay, hook.init_student) == (25000, 0.9996,
                                                             'config')
    assert hook.priority == 'ABOVE_NORMAL'


def test_bad_arguments():
    for decay in (0.0, 1.0):
        with pytest.raises(ValueError, match=f'got {decay}'):
            TeacherScheduleHook('x', decay=decay)
    assert TeacherScheduleHook('x', decay=0.5).decay == 0.5
    with pytest.raises(ValueError, match='burn_in must be >= 0, got -1'):
        TeacherScheduleHook('x', burn_in=-1)
    with pytest.raises(ValueError, match='teacher_checkpoint is None'):
        TeacherScheduleHook(None).before_train(runner(Pair(), 0))
    with pytest.raises(TypeError, match='teacher'):
        TeacherScheduleHook('x').before_train(runner(net(0), 0))
