# Copyright (c) s4m-mm authors. All rights reserved.
"""tools/analysis/compare_sam_frames.py: per-view against source-frame SAM,
on a tiny random SAM."""
import json
import subprocess
import sys

import pytest

from s4m_mm.testing import cfg_option_args, tiny_sam_cfg

TEACHER = 'configs/s4m/demo/s4m-teacher_effl0_nuclei.py'
STUDENT = 'configs/s4m/demo/s4m-student_effl0_nuclei.py'
TINY_SAM = cfg_option_args(tiny_sam_cfg())


def run(repo_root, args):
    result = subprocess.run(
        [sys.executable, 'tools/analysis/compare_sam_frames.py'] + args,
        cwd=repo_root, capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


def test_sd_targets_of_a_view_equal_to_its_source_agree(
        semi_data, tmp_path, repo_root):
    root, _ = semi_data
    out = str(tmp_path / 'sd.json')
    # input_size = the 64 px images: the identity view is the source
    run(repo_root, [
        'sd', TEACHER, '--out', out, '--num-points', '4', '--cfg-options',
        f'train_dataloader.dataset.data_root={root}/', 'input_size=[64,64]'
    ] + [f'model.sam.{o}' for o in TINY_SAM])
    with open(out) as f:
        result = json.load(f)
    assert result['images'] == 6 and result['num_points'] == 4
    assert result['identity']['mean_abs_diff'] < 1e-5
    # the source is the unflipped view, so the source frame's flip is the
    # mirrored view's exactly
    assert result['flip']['mean_abs_diff'] == pytest.approx(
        result['flip_vs_mirrored_view']['mean_abs_diff'], abs=1e-6)
    for kind in ('scale_0.8', 'scale_1.25', 'crop'):
        assert 0 < result[kind]['mean_abs_diff'] < \
            2 * result[kind]['mean_abs_target']
    # the bank interpolates between its lattice points: close to the
    # source frame's targets, not equal
    assert result['bank_stride'] == 2
    for kind in ('identity', 'flip', 'crop'):
        assert 0 < result[kind]['bank_vs_source_mean_abs_diff'] < 2


def test_refinement_in_both_frames_is_scored_on_each_view(
        semi_data, confident_teacher, tmp_path, repo_root):
    root, _ = semi_data
    out = str(tmp_path / 'refine.json')
    run(repo_root, [
        'refine', STUDENT, confident_teacher, '--gt-ann',
        f'{root}/annotations/unlabeled_gt.json', '--views', '2', '--out',
        out, '--cfg-options',
        f'train_dataloader.dataset.datasets.1.data_root={root}/',
        'model.semi_train_cfg.score_thr=0.0'
    ] + [f'model.refiner.sam.{o}' for o in TINY_SAM])
    with open(out) as f:
        result = json.load(f)
    assert result['images'] == 6 and result['views_per_image'] == 2
    # every view of every image is scored once per frame, on its own GT
    num_gt = result['teacher']['num_gt']
    assert num_gt > 0 and result['teacher']['num_pseudo'] > 0
    assert result['view']['num_gt'] == result['source']['num_gt'] == num_gt
    # refinement replaces masks, it never adds or drops pseudo-labels
    assert result['view']['num_pseudo'] == result['source']['num_pseudo'] \
        == result['teacher']['num_pseudo']
    assert result['source_minus_view_mean_iou'] == pytest.approx(
        result['source']['mean_iou'] - result['view']['mean_iou'])
