# Copyright (c) s4m-mm authors. All rights reserved.
"""Seeing S4M's pseudo-labels: the quality scalars of
PseudoLabelQualityHook in a tools/train.py run (log and
vis_data/scalars.json), tools/test.py --show-dir on the student, and
tools/analysis/browse_pseudo_labels.py."""
import glob
import json
import os.path as osp
import re
import subprocess
import sys

import pytest
from PIL import Image

from s4m_mm.testing import cfg_option_args, tiny_sam_cfg

STUDENT = 'configs/s4m/demo/s4m-student_effl0_nuclei.py'
STAGES = ('teacher', 'refined', 'arp')
METRICS = ('iou', 'precision', 'recall')
pytestmark = pytest.mark.slow

#: a random-weight SAM of 64 px and a random teacher that keeps pseudo-labels
TINY_SAM = cfg_option_args(tiny_sam_cfg(), 'model.refiner.sam') + [
    'model.semi_train_cfg.score_thr=0.0',
    'model.unsup_batch_augments.arp.min_area=0'
]


def run(args, cwd):
    result = subprocess.run([sys.executable] + args, cwd=cwd,
                            capture_output=True, text=True)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    return log


@pytest.fixture(scope='module')
def student_run(semi_data, tmp_path_factory, repo_root):
    """One student iteration measured by the quality hook (interval 1)."""
    root, ckpt = semi_data
    work = str(tmp_path_factory.mktemp('student_plq'))
    log = run([
        'tools/train.py', STUDENT, '--work-dir', work, '--cfg-options',
        f'train_dataloader.dataset.datasets.0.data_root={root}/',
        f'train_dataloader.dataset.datasets.1.data_root={root}/',
        f'val_dataloader.dataset.data_root={root}/',
        f'val_evaluator.ann_file={root}/annotations/val.json',
        f'default_hooks.teacher_schedule.teacher_checkpoint={ckpt}',
        'default_hooks.pseudo_label_quality.interval=1',
        'train_cfg.max_iters=1',
        'train_cfg.val_begin=2', 'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1', 'randomness.seed=0'
    ] + TINY_SAM, repo_root)
    (scalars_file, ) = glob.glob(osp.join(work, '*', 'vis_data',
                                          'scalars.json'))
    return work, log, scalars_file


def test_quality_scalars_reach_the_log_and_scalars_json(student_run):
    _, log, scalars_file = student_run
    with open(scalars_file) as f:
        (train_scalars, ) = [json.loads(line) for line in f]
    assert train_scalars['iter'] == 1
    for stage in STAGES:
        for metric in METRICS:
            key = f'plq_{stage}_{metric}'
            # the logger and the visualizer got the same value (the log
            # prints 4 decimals)
            (logged, ) = re.findall(rf'\b{key}: ([0-9.]+)', log)
            assert float(logged) == pytest.approx(train_scalars[key],
                                                  abs=5e-5), key


def test_test_py_show_dir_draws_the_student(student_run, semi_data,
                                            repo_root):
    work = student_run[0]
    root, _ = semi_data
    run([
        'tools/test.py', STUDENT,
        osp.join(work, 'iter_1.pth'), '--work-dir', work, '--show-dir', 'vis',
        '--cfg-options', f'test_dataloader.dataset.data_root={root}/',
        f'test_evaluator.ann_file={root}/annotations/val.json',
        'randomness.seed=0'
    ] + TINY_SAM, repo_root)
    drawn = sorted(glob.glob(osp.join(work, '*', 'vis', '*.png')))
    assert [osp.basename(p) for p in drawn] == \
        [f'img_{i:03d}.png' for i in range(1, 7)]
    for path in drawn:  # GT | prediction at the 64 px original size
        assert Image.open(path).size == (128, 64)


def test_browse_pseudo_labels_writes_three_panels(semi_data, tmp_path,
                                                  repo_root):
    root, ckpt = semi_data
    out_dir = str(tmp_path / 'pictures')
    log = run([
        'tools/analysis/browse_pseudo_labels.py', STUDENT, ckpt,
        '--out-dir', out_dir, '--num-images', '3', '--batch-size', '3',
        '--cfg-options',
        f'train_dataloader.dataset.datasets.0.data_root={root}/',
        f'train_dataloader.dataset.datasets.1.data_root={root}/'
    ] + TINY_SAM, repo_root)
    drawn = sorted(glob.glob(osp.join(out_dir, '*.png')))
    assert [osp.basename(p) for p in drawn] == \
        ['img_001.png', 'img_002.png', 'img_003.png']
    # the demo's views of a 64 px tile: scaled to 256 x 0.8-1.25, flipped
    # and cropped to at most 256 x 256; three panels of the view's image
    # (no padding) side by side
    for path in drawn:
        w, h = Image.open(path).size
        assert w == 3 * h and round(256 * 0.8) <= h <= 256
        assert f'{path}: ' in log
