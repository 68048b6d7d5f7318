# Copyright (c) s4m-mm authors. All rights reserved.
"""The component study's results README and ``--publish``: every number
of the README's tables read from the summary, in its row order, and the
files a publication writes. No training: the summaries are written here,
by hand or from a seeded generator."""
import importlib.util
import json
import math
import os
import os.path as osp
import re
import subprocess

import numpy as np
import pytest

from s4m_mm.analysis.component_study.publish import (PUBLISHED, git_commit,
                                                     publish, utc_now)
from s4m_mm.analysis.component_study.readme import render_readme
from s4m_mm.analysis.component_study.report import print_table
from s4m_mm.analysis.component_study.statistics import t_threshold

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METRICS = ('segm_mAP', 'segm_mAP_50', 'bbox_mAP', 'bbox_mAP_50')


def stat(mean, std=None, sem=None, n=1, values=None):
    return dict(n=n, mean=mean, std=std, sem=sem,
                values=values if values is not None else [mean] * n)


def hand_summary():
    """Two rows, ``supervised`` before ``full`` (the study's order, not
    the alphabet's), every mean unlike every std."""
    per_run = {
        'supervised': [stat(0.212, 0.031, 0.022, 2), stat(0.405, 0.062,
                                                          0.044, 2),
                       stat(0.118, 0.009, 0.006, 2), stat(0.251, 0.047,
                                                          0.033, 2)],
        'full': [stat(0.333, 0.044, 0.031, 2), stat(0.517, 0.071, 0.05, 2),
                 stat(0.224, 0.015, 0.011, 2), stat(0.366, 0.028, 0.02, 2)],
    }
    pooled = {'supervised': [0.208, 0.399, 0.115, 0.247],
              'full': [0.329, 0.511, 0.221, 0.361]}
    aggregate = {
        row: dict(folds_pooled=2, complete=True, seeds=['0'],
                  pooled_over_seeds={m: stat(v) for m, v in
                                     zip(METRICS, pooled[row])},
                  per_fold_runs=dict(zip(METRICS, per_run[row])))
        for row in ('supervised', 'full')}
    # full - supervised over 3 runs: mask AP 0.05 ± 0.01 (t = 8.66,
    # beyond 4.30); box AP 0.02 ± 0.03 (t = 1.15, within)
    diff = dict(runs=[[0, 0], [1, 1], [2, 2]],
                segm_mAP=stat(0.05, 0.01, 0.01 / math.sqrt(3), 3,
                              [0.04, 0.05, 0.06]),
                segm_mAP_50=stat(0.1, 0.1, 0.1 / math.sqrt(3), 3,
                                 [0.0, 0.1, 0.2]),
                bbox_mAP=stat(0.02, 0.03, 0.03 / math.sqrt(3), 3,
                              [-0.01, 0.02, 0.05]),
                bbox_mAP_50=stat(-0.03, 0.01, 0.01 / math.sqrt(3), 3,
                                 [-0.04, -0.03, -0.02]))
    runs = [dict(row=row, fold=f, seed=f, split=dict(seed=f),
                 metrics=dict(zip(METRICS, [0.1 * (f + 1)] * 4)),
                 best_iter=50 * (f + 1), stopped_iter=50 * (f + 3),
                 max_iters=400)
            for row in ('full', 'supervised') for f in (1, 0)]
    pools = {row: {'0': dict(dict(zip(METRICS, pooled[row])),
                             folds=[0, 1], seeds=[0, 1], num_images=8,
                             num_instances=31 + k)}
             for k, row in enumerate(('supervised', 'full'))}
    return dict(aggregate=aggregate, pooled=pools,
                paired={'full - supervised': diff},
                runs=runs, settings=dict(folds=2), command='python x',
                date='2026-01-02T03:04:05+00:00', commit='abc123')


def table_after(text, header_start):
    """The cells of the markdown table whose header line starts with
    ``header_start``: a list of rows, each a list of cells."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith('|'):
            break
        rows.append([c.strip() for c in line.strip('|').split('|')])
    return rows


def test_readme_tables_are_the_summary():
    text = render_readme(hand_summary())
    assert table_after(text, '| row | runs |') == [
        ['`supervised`', '2', '0.212 ± 0.031', '0.405 ± 0.062',
         '0.118 ± 0.009', '0.251 ± 0.047'],
        ['`full`', '2', '0.333 ± 0.044', '0.517 ± 0.071', '0.224 ± 0.015',
         '0.366 ± 0.028'],
    ]
    assert table_after(text, '| row | pools |') == [
        ['`supervised`', '1', '2', '8 / 31', '0.208', '0.399', '0.115',
         '0.247'],
        ['`full`', '1', '2', '8 / 32', '0.329', '0.511', '0.221', '0.361'],
    ]
    # t = mean / (std / sqrt(3)); 4.30: Student's t, 2 d.o.f., 97.5 %
    assert table_after(text, '| row - against | n |') == [[
        '`full - supervised`', '3', '4.30', '0.050 ± 0.010 (t 8.66) *',
        '0.100 ± 0.100 (t 1.73)', '0.020 ± 0.030 (t 1.15)',
        '-0.030 ± 0.010 (t -5.20) *'
    ]]
    each = table_after(text, '| row - against | run |')
    assert [r[:3] for r in each] == [
        ['`full - supervised`', 'fold 0 seed 0', '+0.040'],
        ['`full - supervised`', 'fold 1 seed 1', '+0.050'],
        ['`full - supervised`', 'fold 2 seed 2', '+0.060']]
    # each run: rows in the study's order, folds ascending
    assert [r[:4] + r[-2:] for r in table_after(text, '| row | fold |')] \
        == [['`supervised`', '0', '0', '0.100', '50', '150'],
            ['`supervised`', '1', '1', '0.200', '100', '200'],
            ['`full`', '0', '0', '0.100', '50', '150'],
            ['`full`', '1', '1', '0.200', '100', '200']]
    assert 'python x' in text
    assert 'date: 2026-01-02T03:04:05+00:00, commit: abc123' in text
    assert '--runs 0:0 1:1' in text and '--max-iters supervised=400 ' \
        'full=400' in text


def test_readme_without_provenance_says_none():
    summary = hand_summary()
    for key in ('command', 'date', 'commit'):
        del summary[key]
    text = render_readme(summary)
    assert 'commit:' not in text and 'Written by\n' not in text


@pytest.mark.parametrize('n, expected', [(2, 12.706), (3, 4.303),
                                         (4, 3.182), (5, 2.776)])
def test_t_threshold_is_students(n, expected):
    # two-sided 95 % critical values of Student's t, n - 1 d.o.f., as
    # printed in statistics tables
    assert t_threshold(n) == pytest.approx(expected, abs=5e-4)
    assert t_threshold(1) is None


def walk_keys(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from walk_keys(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from walk_keys(v)


def test_publish_writes_exactly_its_files(tmp_path):
    summary = hand_summary()
    for x in summary['runs']:
        x.update(curve=[dict(iter=50, segm_mAP=0.1), dict(iter=100,
                                                           segm_mAP=0.2)],
                 predictions='fold0/seed0/full/test/predictions.pkl',
                 data_root='fold0/seed0/data')
    out = str(tmp_path / 'docs' / 'results')
    paths = publish(summary, out)
    expected = ['README.md', 'summary.json', 'component_study.png',
                'val_curves.png']
    assert [osp.basename(p) for p in paths] == expected == list(PUBLISHED)
    assert sorted(os.listdir(out)) == sorted(expected)
    with open(osp.join(out, 'summary.json')) as f:
        small = json.load(f)
    keys = set(walk_keys(small))
    assert not keys & {'curve', 'predictions', 'data_root'}
    assert small['paired'] == json.loads(json.dumps(summary['paired']))
    # the README is the one its published summary gives
    with open(osp.join(out, 'README.md')) as f:
        assert f.read() == render_readme(small)


def fake_work_dir(work, rng):
    """result.json of 2 folds x 2 rows, seeded APs; no predictions (the
    pooled evaluation is skipped), no models."""
    metrics = {}
    for fold in (0, 1):
        for row in ('supervised', 'sd_teacher'):
            ap = [round(float(v), 3) for v in rng.uniform(0.05, 0.5, 4)]
            metrics[(row, fold)] = ap
            run = osp.join(work, f'fold{fold}', f'seed{fold}', row)
            os.makedirs(run)
            with open(osp.join(run, 'result.json'), 'w') as f:
                json.dump(dict(
                    row=row, fold=fold, seed=fold,
                    split=dict(seed=0, fold=fold, num_folds=2),
                    metrics=dict(zip(METRICS, ap)),
                    predictions=osp.join('missing', 'predictions.pkl'),
                    data_root='missing', best_iter=100, stopped_iter=300,
                    max_iters=400, train_seconds=10.0,
                    train_cpu_seconds=20.0,
                    curve=[dict(iter=100, **dict(zip(METRICS, ap)))]), f)
    return metrics


def test_summarize_only_and_publish_from_a_work_dir(tmp_path):
    spec = importlib.util.spec_from_file_location(
        'component_study_cli',
        osp.join(REPO, 'tools', 'analysis', 'component_study.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    work, out = str(tmp_path / 'work'), str(tmp_path / 'published')
    metrics = fake_work_dir(work, np.random.default_rng(0))
    cwd = os.getcwd()
    try:
        cli.main(['--work-dir', work, '--folds', '2', '--summarize-only',
                  '--publish', out])
    finally:
        os.chdir(cwd)
    assert sorted(os.listdir(out)) == sorted(PUBLISHED)
    assert {'README.md', 'summary.json', 'component_study.png',
            'val_curves.png'} <= set(os.listdir(work))
    with open(osp.join(out, 'README.md')) as f:
        text = f.read()
    # mean ± sample std of the two folds' APs, worked out here
    for row, cells in zip(('supervised', 'sd_teacher'),
                          table_after(text, '| row | runs |')):
        a, b = metrics[(row, 0)], metrics[(row, 1)]
        want = [f'{(x + y) / 2:.3f} ± {abs(x - y) / math.sqrt(2):.3f}'
                for x, y in zip(a, b)]
        assert cells == [f'`{row}`', '2'] + want
    paired = table_after(text, '| row - against | n |')
    assert [r[0] for r in paired] == ['`sd_teacher - supervised`']
    with open(osp.join(work, 'README.md')) as f:
        assert '--publish' in f.read()  # the command that wrote it


def with_times_and_pseudo_labels(summary):
    """``summary`` with iterations, training times and, for ``full``, the
    logged pseudo-label quality (arp not logged)."""
    for a in summary['aggregate'].values():
        a.update(best_iter=stat(125.0, 35.355, 25.0, 2),
                 stopped_iter=stat(300.0, 0.0, 0.0, 2),
                 train_seconds=stat(4492.4), train_cpu_seconds=stat(4466.2))
    means = dict(teacher=(0.5, 0.25, 0.125), refined=(0.625, 0.375, 0.875),
                 arp=(None, None, None))
    summary['aggregate']['full']['pseudo_labels'] = {
        stage: {m: stat(v) for m, v in zip(('iou', 'precision', 'recall'),
                                           vals)}
        for stage, vals in means.items()}
    return summary


def test_printed_tables_are_the_summary(capsys):
    print_table(with_times_and_pseudo_labels(hand_summary()))
    lines = capsys.readouterr().out.splitlines()

    def rows_after(title_start, skip):
        start = next(i for i, x in enumerate(lines)
                     if x.startswith(title_start))
        out = []
        for line in lines[start + 1 + skip:]:
            if not line:
                break
            out.append(line.split())
        return out

    assert rows_after('each run on', 2)[0] == [
        'supervised', '0', '0', '0.100', '0.100', '0.100', '0.100', '50',
        '150']
    assert rows_after('AP of the predictions', 2) == [
        ['supervised', '1', '2', '0.208', '0.399', '0.115', '0.247'],
        ['0', 'seeds', '0,1', '0.208', '0.399', '0.115', '0.247'],
        ['full', '1', '2', '0.329', '0.511', '0.221', '0.361'],
        ['0', 'seeds', '0,1', '0.329', '0.511', '0.221', '0.361']]
    assert rows_after('per-fold runs', 1)[1] == [
        'full', '2', '0.333', '±', '0.044', '0.517', '±', '0.071', '0.224',
        '±', '0.015', '0.366', '±', '0.028']
    # mean ± std (sem = std / sqrt(3)), then each run's difference
    paired = rows_after('paired differences', 1)
    assert paired[0] == ['full', '-', 'supervised', '3', '0.050', '±',
                         '0.010', '(0.006)', '0.100', '±', '0.100',
                         '(0.058)', '0.020', '±', '0.030', '(0.017)',
                         '-0.030', '±', '0.010', '(0.006)']
    assert paired[3] == ['fold', '2', 'seed', '2', '+0.060', '+0.200',
                         '+0.050', '-0.020']
    assert rows_after('iterations over all runs', 1) == [
        [row, '125', '±', '35', '300', '±', '0', '4492', '4466', '1']
        for row in ('supervised', 'full')]
    assert rows_after('pseudo-labels during training', 1) == [
        ['full', '0.500', '/', '0.250', '/', '0.125', '0.625', '/', '0.375',
         '/', '0.875', '-', '/', '-', '/', '-']]


def test_no_paired_table_without_pairs(capsys):
    summary = hand_summary()
    summary['paired'] = {}
    for a in with_times_and_pseudo_labels(summary)['aggregate'].values():
        a.pop('pseudo_labels', None)
    print_table(summary)
    out = capsys.readouterr().out
    assert 'paired differences' not in out and 'pseudo-labels' not in out
    assert 'Paired differences' not in render_readme(summary)


def git(repo, *cmd):
    return subprocess.run(['git', '-C', repo, *cmd], check=True,
                          capture_output=True, text=True).stdout.strip()


def test_git_commit_and_date(tmp_path):
    repo = str(tmp_path / 'repo')
    os.makedirs(repo)
    git(repo, 'init', '-q')
    with open(osp.join(repo, 'a.txt'), 'w') as f:
        f.write('one\n')
    git(repo, 'add', 'a.txt')
    git(repo, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm',
        'one')
    head = git(repo, 'log', '-1', '--format=%H')
    assert re.fullmatch('[0-9a-f]{40}', head)
    assert git_commit(repo) == head
    open(osp.join(repo, 'new.txt'), 'w').close()  # untracked: still clean
    assert git_commit(repo) == head
    with open(osp.join(repo, 'a.txt'), 'a') as f:
        f.write('two\n')
    assert git_commit(repo) == head + '+dirty'
    assert git_commit(str(tmp_path)) is None  # no checkout there
    assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00',
                        utc_now())


def test_published_summary_keeps_what_the_readme_cites(tmp_path):
    summary = hand_summary()
    summary['runs'][0].update(split=dict(seed=7, fold=1, num_folds=2),
                              curve=[], config='x.py')
    out = str(tmp_path / 'pub')
    publish(summary, out)
    publish(summary, out)  # again into the same folder: rewritten
    with open(osp.join(out, 'summary.json')) as f:
        small = json.load(f)
    assert small['runs'][0] == dict(
        row='full', fold=1, seed=1, split=dict(seed=7),
        metrics=summary['runs'][0]['metrics'], best_iter=100,
        stopped_iter=200, max_iters=400)
    assert [(x['row'], x['fold']) for x in small['runs']] == [
        ('full', 1), ('full', 0), ('supervised', 1), ('supervised', 0)]
    assert (small['command'], small['date'], small['commit']) == (
        'python x', '2026-01-02T03:04:05+00:00', 'abc123')
    assert small['settings'] == dict(folds=2)
    del summary['commit']
    publish(summary, out)
    with open(osp.join(out, 'summary.json')) as f:
        assert 'commit' not in json.load(f)


def described_summary(split_seed=None):
    """:func:`hand_summary` with the call's settings, the runs' settings
    and machine, and (``split_seed``) one split seed for every run."""
    summary = with_times_and_pseudo_labels(hand_summary())
    summary['settings'] = dict(folds=2, num_labeled=3, num_dev=2,
                               monitor='coco/segm_mAP',
                               early_stopping_on='dev tiles')
    for x in summary['runs']:
        x.update(settings=dict(val_interval=50, patience=4, min_delta=0.001),
                 machine=dict(cpu='CPU X', native_bf16=False, torch='2.0'))
        if split_seed is not None:
            x['split'] = dict(seed=split_seed)
    return summary


def section(text, title):
    """The lines of the README section ``## title``, up to the next."""
    lines = text.splitlines()
    start = lines.index(f'## {title}')
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].startswith('## ')), len(lines))
    return lines[start + 1:end]


def test_readme_says_what_was_run_and_how_to_run_it_again():
    text = render_readme(described_summary())
    assert section(text, 'What was run') == [
        '', "- student: the demo's Mask2Former (stage 1: `sd_teacher`) (the "
        'architecture of every row)', '- rows: `supervised`, `full`',
        '- 2 (fold, seed) runs: fold 0 seed 0, fold 1 seed 1; 4 trained '
        'models in all',
        '- data: the 16 tiles split into 2 folds (split seed 0, 1); 3 '
        'labeled and 2 dev tiles outside the test fold',
        '- early stopping on `coco/segm_mAP` of the dev tiles',
        '- trained on CPU X (native bf16: False), torch 2.0', '']
    again = ['python tools/analysis/component_study.py \\',
             '    --work-dir work_dirs/component_study \\',
             '    --folds 2 \\', '    --runs 0:0 1:1 \\',
             '    --rows supervised full \\',
             '    --max-iters supervised=400 full=400 \\',
             '    --val-interval 50 \\', '    --patience 4 \\',
             '    --min-delta 0.001']
    made = section(text, 'How it was made')
    assert made[-len(again) - 1:] == again + ['```']
    assert 'commit: abc123.\n\nThe runs, trained again' in text
    # one split seed for runs trained with other seeds: --split-seed
    seeded = section(render_readme(described_summary(split_seed=7)),
                     'How it was made')
    assert '    --runs 0:0 1:1 \\' in seeded
    assert seeded[seeded.index('    --runs 0:0 1:1 \\') + 1] == \
        '    --split-seed 7 \\'
    # the split of each run's own seed (the default): no --split-seed,
    # also when every run has one seed (5), unlike its fold
    assert not any('--split-seed' in line for line in made)
    one_seed = described_summary(split_seed=5)
    for x in one_seed['runs']:
        x['seed'] = 5
    one = section(render_readme(one_seed), 'How it was made')
    assert '    --runs 0:5 1:5 \\' in one
    assert not any('--split-seed' in line for line in one)


def test_readme_how_to_read_figures_and_pseudo_labels():
    text = render_readme(described_summary())
    read = ' '.join(section(text, 'How to read them'))
    # 1 pair of rows x 4 metrics; 3 runs: t of 2 d.o.f.
    assert '(column `t 95 %`: 4.30 for 3 runs)' in read
    assert 'With 4 cells, some pass by chance' in read
    assert section(text, 'Figures') == [
        '', '![component_study.png](component_study.png)',
        '![val_curves.png](val_curves.png)', '']
    assert '## Figures' not in render_readme(described_summary(), ())
    assert table_after(text, '| row | teacher |') == [
        ['`full`', '0.500 / 0.250 / 0.125', '0.625 / 0.375 / 0.875',
         '- / - / -']]
    summary = described_summary()
    del summary['aggregate']['full']['pseudo_labels']
    summary['paired'] = {}
    bare = render_readme(summary)
    assert 'Pseudo-labels during training' not in bare
    assert '## How to read them' not in bare
