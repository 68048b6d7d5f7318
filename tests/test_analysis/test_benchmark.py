# Copyright (c) s4m-mm authors. All rights reserved.
"""s4m_mm.analysis.benchmark: the set-up the analysis tools share."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope
from torch import nn

from s4m_mm.analysis import benchmark
from s4m_mm.analysis.benchmark import (PartTimer, Timing,
                                       build_optim_wrapper_for, environment,
                                       load_config, load_teacher, sam_config,
                                       teacher_checkpoint, time_once, timed,
                                       write_report)


def write_config(tmp_path, text):
    path = tmp_path / 'cfg.py'
    path.write_text(text)
    return str(path)


def test_load_config_merges_options_imports_and_sets_the_scope(tmp_path):
    path = write_config(
        tmp_path, "model = dict(type='Linear', in_features=2)\n"
        "default_scope = 'mmdet'\n"
        "custom_imports = dict(imports=['s4m_mm.utils.digest'])\n")
    cfg = load_config(path, {'model.in_features': 5, 'extra': 1})
    assert cfg.model.in_features == 5 and cfg.extra == 1
    assert DefaultScope.get_current_instance().scope_name == 'mmdet'


def test_load_config_fills_custom_settings_placeholders(tmp_path):
    path = write_config(
        tmp_path, "custom_settings = dict(classes=('a', 'b', 'c'))\n"
        "model = dict(num_classes='${num_classes}')\n")
    assert load_config(path).model.num_classes == 3


def test_teacher_checkpoint_prefers_the_given_one_then_an_existing_file(
        tmp_path):
    ckpt = tmp_path / 'teacher.pth'
    cfg = Config(dict(default_hooks=dict(
        refine=dict(type='PseudoLabelRefineHook'),
        teacher_schedule=dict(type='TeacherScheduleHook',
                              teacher_checkpoint=str(ckpt)))))
    assert teacher_checkpoint(cfg, 'given.pth') == 'given.pth'
    assert teacher_checkpoint(cfg) is None  # the file is not there
    ckpt.write_bytes(b'')
    assert teacher_checkpoint(cfg) == str(ckpt)
    assert teacher_checkpoint(Config(dict())) is None


def test_teacher_checkpoint_reads_the_named_slot_only(tmp_path):
    ckpt = tmp_path / 'teacher.pth'
    ckpt.write_bytes(b'')
    # the student configs' schedule hook is default_hooks.teacher_schedule;
    # a hook of that type in custom_hooks is not the one the runner builds
    # from the configs, nor a slot switched off with None
    in_list = Config(dict(custom_hooks=[
        dict(type='TeacherScheduleHook', teacher_checkpoint=str(ckpt))]))
    assert teacher_checkpoint(in_list) is None
    off = Config(dict(default_hooks=dict(teacher_schedule=None)))
    assert teacher_checkpoint(off) is None
    unset = Config(dict(default_hooks=dict(teacher_schedule=dict(
        type='TeacherScheduleHook', teacher_checkpoint=None))))
    assert teacher_checkpoint(unset) is None


def test_teacher_checkpoint_of_the_demo_student_config(tmp_path, repo_root):
    """The real student config with the command line's override."""
    ckpt = tmp_path / 'teacher.pth'
    ckpt.write_bytes(b'')
    cfg = load_config(
        osp.join(repo_root, 'configs/s4m/demo/s4m-student_effl0_nuclei.py'),
        {'default_hooks.teacher_schedule.teacher_checkpoint': str(ckpt)})
    assert teacher_checkpoint(cfg) == str(ckpt)


class WithTeacher(nn.Module):

    def __init__(self):
        super().__init__()
        self.teacher = nn.Linear(2, 3)


def test_load_teacher_loads_a_checkpoint_or_keeps_random_weights(tmp_path):
    torch.manual_seed(0)
    source = nn.Linear(2, 3)
    path = str(tmp_path / 'stage1.pth')
    torch.save({'state_dict': source.state_dict()}, path)
    model = WithTeacher()
    before = model.teacher.weight.clone()
    assert load_teacher(model, None, allow_random=True) == 'random'
    assert torch.equal(model.teacher.weight, before)
    with pytest.raises(ValueError, match='teacher_checkpoint is None'):
        load_teacher(model, None)
    # allow_random only matters without a checkpoint
    assert load_teacher(model, path, allow_random=True) == path
    assert torch.equal(model.teacher.weight, source.weight)
    model = WithTeacher()
    assert load_teacher(model, path) == path
    assert torch.equal(model.teacher.weight, source.weight)


def test_sam_config_random_without_a_checkpoint_except_lite_medsam():
    assert sam_config('vit_b', img_size=64) == dict(
        type='SAMAdapter', sam_type='vit_b', checkpoint=None,
        random_init=True, img_size=64)
    assert sam_config('vit_b', 'w.pth') == dict(
        type='SAMAdapter', sam_type='vit_b', checkpoint='w.pth')
    assert 'random_init' not in sam_config('lite_medsam')


def test_optim_wrapper_drops_amp_off_cuda_and_paramwise_on_request():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    cfg = dict(
        type='AmpOptimWrapper', loss_scale='dynamic', dtype='float16',
        optimizer=dict(type='SGD', lr=0.1),
        paramwise_cfg=dict(custom_keys={'0.': dict(lr_mult=0.5)}))
    wrapper = build_optim_wrapper_for(model, ConfigDict(cfg),
                                      torch.device('cpu'))
    assert type(wrapper).__name__ == 'OptimWrapper'
    # paramwise: one group per parameter, the first layer's at lr x 0.5
    lrs = sorted(g['lr'] for g in wrapper.optimizer.param_groups)
    assert lrs == [0.05, 0.05, 0.1, 0.1]
    plain = build_optim_wrapper_for(model, ConfigDict(cfg),
                                    torch.device('cpu'), paramwise=False)
    assert [g['lr'] for g in plain.optimizer.param_groups] == [0.1]


class FakeClock:
    """``time.perf_counter`` / ``process_time`` reading a list of times."""

    def __init__(self, wall, cpu):
        self.wall, self.cpu = list(wall), list(cpu)

    def perf_counter(self):
        return self.wall.pop(0)

    def process_time(self):
        return self.cpu.pop(0)


def test_time_once_and_timed_report_wall_and_cpu_seconds(monkeypatch):
    clock = FakeClock(wall=[10.0, 12.5], cpu=[1.0, 1.75])
    monkeypatch.setattr(benchmark.time, 'perf_counter', clock.perf_counter)
    monkeypatch.setattr(benchmark.time, 'process_time', clock.process_time)
    assert time_once(lambda: None, torch.device('cpu')) == (2.5, 0.75)
    # three timed calls of 3, 1 and 2 s after two untimed ones
    calls = []
    clock = FakeClock(wall=[0, 3, 10, 11, 20, 22], cpu=[0, 1, 0, 1, 0, 4])
    monkeypatch.setattr(benchmark.time, 'perf_counter', clock.perf_counter)
    monkeypatch.setattr(benchmark.time, 'process_time', clock.process_time)
    timing = timed(lambda: calls.append(1), torch.device('cpu'), repeats=3,
                   warmup=2)
    assert len(calls) == 5
    assert timing.wall == [3, 1, 2] and timing.cpu == [1, 1, 4]
    assert timing.median == 2 and timing.cpu_median == 1
    assert Timing(wall=[4.0, 1.0], cpu=[0, 0]).median == 2.5


def test_part_timer_adds_a_part_timed_twice(monkeypatch):
    clock = FakeClock(wall=[0.0, 1.0, 5.0, 5.5, 6.0, 8.0], cpu=[])
    monkeypatch.setattr(benchmark.time, 'perf_counter', clock.perf_counter)
    timer = PartTimer(torch.device('cpu'))
    for name in ('a', 'b', 'a'):
        with timer(name):
            pass
    assert timer.seconds == dict(a=3.0, b=0.5)


def test_environment_and_report(tmp_path, capsys):
    env = environment('cpu')
    assert env['torch'] == torch.__version__
    assert env['cpu_threads'] == torch.get_num_threads()
    assert env['device'].startswith('cpu (') and \
        env['device'].endswith(f'{torch.get_num_threads()} threads)')
    out = str(tmp_path / 'r.json')
    report = dict(a=1, b=[1.5, 'x'])
    write_report(report, out)
    with open(out) as f:
        assert json.load(f) == report
    assert json.loads(capsys.readouterr().out) == report


@pytest.mark.skipif(torch.cuda.is_available(), reason='a machine with CUDA')
def test_resolve_device_refuses_cuda_without_cuda():
    assert benchmark.resolve_device('cpu') == torch.device('cpu')
    with pytest.raises(SystemExit, match='--device cuda: CUDA is not'):
        benchmark.resolve_device('cuda')
