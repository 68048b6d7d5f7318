# Copyright (c) s4m-mm authors. All rights reserved.
"""s4m_mm.demo.stages without training: the commands each stage runs, the
summary it writes and the table it prints, a fake standing in for the
tools (what each would write, and the command recorded)."""
import json
import os
import os.path as osp
import sys

import pytest

from s4m_mm.demo import commands, stages
from s4m_mm.demo.stages import STAGES, run_demo

PY = sys.executable
BASELINE = 'configs/s4m/demo/mask2former_effl0_nuclei_sup.py'
TEACHER = 'configs/s4m/demo/s4m-teacher_effl0_nuclei.py'
STUDENT = 'configs/s4m/demo/s4m-student_effl0_nuclei.py'
MEAN_TEACHER = 'configs/s4m/demo/components/s4m-mean-teacher_effl0_nuclei.py'
#: what the fake tools/test.py reports for every model
METRICS = {'coco/bbox_mAP': 0.125, 'coco/bbox_mAP_50': 0.25,
           'coco/segm_mAP': 0.375, 'coco/segm_mAP_50': 0.5}
QUALITY = dict(teacher=dict(mean_iou=0.5, precision=0.25, recall=0.75,
                            num_pseudo=12),
               refined=dict(mean_iou=0.625, precision=0.375, recall=0.875,
                            num_pseudo=10))


class FakeTools:
    """Writes what each tool of the demo would and records the command."""

    def __init__(self):
        self.calls = []

    @staticmethod
    def value(cmd, flag):
        return cmd[cmd.index(flag) + 1]

    def __call__(self, cmd):
        self.calls.append(list(cmd))
        tool = osp.basename(cmd[1])
        if tool == 'prepare_nuclei_demo.py':
            root = self.value(cmd, '--out-dir')
            os.makedirs(root)
            with open(osp.join(root, 'summary.json'), 'w') as f:
                json.dump({'tiles': {'labeled': 3}}, f)
        elif tool == 'train.py':
            work = self.value(cmd, '--work-dir')
            os.makedirs(osp.join(work, 'run', 'vis_data'), exist_ok=True)
            with open(osp.join(work, 'last_checkpoint'), 'w') as f:
                f.write(osp.join(work, 'iter_2.pth') + '\n')
            with open(osp.join(work, 'run', 'vis_data', 'scalars.json'),
                      'w') as f:
                f.write(json.dumps({'plq_teacher_iou': 0.25,
                                    'plq_refined_iou': 0.5,
                                    'plq_arp_iou': 0.75, 'step': 1}) + '\n')
        elif tool == 'test.py':
            with open(self.value(cmd, '--metrics-out'), 'w') as f:
                json.dump(METRICS, f)
        elif tool == 'pseudo_label_quality.py':
            with open(self.value(cmd, '--out'), 'w') as f:
                json.dump(QUALITY, f)
        elif tool != 's4m_to_mmdet.py':
            raise AssertionError(f'unexpected command {cmd}')


class Args:

    def __init__(self, work_dir, data_root, cfg_options):
        self.work_dir = work_dir
        self.data_root = data_root
        self.cfg_options = cfg_options


@pytest.fixture
def fake(monkeypatch):
    tools = FakeTools()
    monkeypatch.setattr(commands, 'run_command', tools)
    monkeypatch.setattr(stages, 'run_command', tools)
    return tools


def data(root, semi=False):
    roots = ['train_dataloader.dataset.datasets.0.data_root',
             'train_dataloader.dataset.datasets.1.data_root'] if semi else \
        ['train_dataloader.dataset.data_root']
    return [f'{k}={root}/' for k in roots + [
        'val_dataloader.dataset.data_root',
        'test_dataloader.dataset.data_root']] + [
            f'val_evaluator.ann_file={root}/annotations/val.json',
            f'test_evaluator.ann_file={root}/annotations/val.json']


def test_every_stage_runs_the_commands_a_user_would_type(fake, tmp_path):
    work, root = str(tmp_path / 'w'), str(tmp_path / 'nuclei')
    opt = ['train_cfg.max_iters=2']
    summary = run_demo(Args(work, root, opt), STAGES)

    def trained(config, name, options):
        return [PY, 'tools/train.py', config, '--work-dir', f'{work}/{name}',
                '--cfg-options'] + options

    def tested(ckpt, name):
        return [PY, 'tools/test.py', BASELINE, ckpt, '--work-dir',
                f'{work}/{name}', '--metrics-out',
                f'{work}/{name}/test_metrics.json', '--cfg-options'
                ] + data(root)

    teacher = f'{work}/sd_teacher/iter_2.pth'
    student_opts = data(root, semi=True) + [
        f'default_hooks.teacher_schedule.teacher_checkpoint={teacher}'] + opt
    expected = [[PY, 'tools/dataset_converters/prepare_nuclei_demo.py',
                 '--out-dir', root]]
    for config, name in ((BASELINE, 'supervised'), (TEACHER, 'sd_teacher')):
        expected += [trained(config, name, data(root) + opt),
                     tested(f'{work}/{name}/iter_2.pth', name)]
    expected.append([
        PY, 'tools/analysis/pseudo_label_quality.py', STUDENT, teacher,
        '--gt-ann', f'{root}/annotations/unlabeled_gt.json', '--out',
        f'{work}/pseudo_label_quality.json', '--cfg-options',
        f'val_dataloader.dataset.data_root={root}/'])
    for config, name in ((MEAN_TEACHER, 'mean_teacher'),
                         (STUDENT, 's4m_student')):
        exported = f'{work}/{name}/student_mask2former.pth'
        expected += [trained(config, name, student_opts),
                     [PY, 'tools/model_converters/s4m_to_mmdet.py',
                      f'{work}/{name}/iter_2.pth', exported],
                     tested(exported, name)]
    assert fake.calls == expected

    assert os.getcwd() == commands.ROOT  # the tools' paths are relative
    with open(osp.join(work, 'summary.json')) as f:
        assert json.load(f) == summary
    assert list(summary['stages']) == ['supervised', 'sd_teacher',
                                       'mean_teacher', 's4m_student']
    assert summary['data'] == {'tiles': {'labeled': 3}}
    assert summary['pseudo_labels'] == QUALITY
    student = summary['stages']['s4m_student']
    assert student['metrics'] == dict(bbox_mAP=0.125, bbox_mAP_50=0.25,
                                      segm_mAP=0.375, segm_mAP_50=0.5)
    assert student['pseudo_labels_in_training'] == dict(
        teacher=dict(iou=0.25), refined=dict(iou=0.5), arp=dict(iou=0.75),
        measured_iterations=1)


def test_a_subset_keeps_earlier_results_and_prints_the_table(
        fake, tmp_path, capsys):
    work, root = str(tmp_path / 'w'), str(tmp_path / 'nuclei')
    run_demo(Args(work, root, []), ['supervised', 'sd_teacher'])
    first = capsys.readouterr().out
    assert 'demo data' not in first  # built by the first call
    summary = run_demo(Args(work, root, []), ['pseudo_labels'])
    out = capsys.readouterr().out
    # the data is built once; the second call ran the pseudo-label tool only
    assert [osp.basename(c[1]) for c in fake.calls].count(
        'prepare_nuclei_demo.py') == 1
    assert f'demo data: {root} (already built)' in out
    assert list(summary['stages']) == ['supervised', 'sd_teacher']
    table = out[out.index('\nmodel'):].splitlines()
    assert table[1].split() == ['model', 'bbox_mAP', 'bbox_mAP_50',
                                'segm_mAP', 'segm_mAP_50', 'train', '(s)']
    assert table[3].split() == ['supervised', '0.125', '0.250', '0.375',
                                '0.500', '0']
    assert table[4].split()[0] == 'sd_teacher'
    assert table[7].split() == ['teacher', '0.500', '0.250', '0.750', '12']
    assert table[8].split() == ['refined', '0.625', '0.375', '0.875', '10']
    assert out.rstrip().endswith(f'summary: {work}/summary.json')


def test_unknown_stages_are_refused_before_anything_runs(fake, tmp_path):
    args = Args(str(tmp_path / 'w'), str(tmp_path / 'nuclei'), [])
    with pytest.raises(ValueError, match=r"unknown demo stages \['teacher'\]"):
        run_demo(args, ['supervised', 'teacher'])
    assert fake.calls == []
