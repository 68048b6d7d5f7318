# Copyright (c) s4m-mm authors. All rights reserved.
"""``tools/analysis/students_table.py``: every number of the students
README read from the studies' summaries and the benchmark report it is
given, in the study's row order, and clear errors for a missing file or
two studies of one student. The summaries are written here by hand."""
import importlib.util
import json
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'students_table', osp.join(REPO, 'tools', 'analysis',
                                   'students_table.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def stat(mean, std, sem, n):
    return dict(n=n, mean=mean, std=std, sem=sem, values=[mean] * n)


def per_run(mean, std, n):
    return dict(per_fold_runs=dict(segm_mAP=stat(mean, std, None, n)))


def mask2former_summary():
    """A study from before ``--student`` existed: no ``student`` in its
    settings or runs, so it is Mask2Former's, with ``sd_teacher``."""
    return dict(
        aggregate=dict(full=per_run(0.1974, 0.1031, 3),
                       supervised=per_run(0.0876, 0.0529, 4),
                       sd_teacher=per_run(0.1144, 0.0733, 4)),
        paired={
            'full - mean_teacher': dict(segm_mAP=stat(0.016, 0.026, 0.008,
                                                      3)),
            'full - sd_teacher': dict(segm_mAP=stat(0.05, 0.05, 0.02, 3)),
            # not one of the table's pairs: left out
            'full - supervised': dict(segm_mAP=stat(0.3, 0.1, 0.05, 3)),
        },
        runs=[dict(row='full', fold=0, seed=0)],
        settings=dict(folds=4), command='python a.py', commit='abc1234')


def mask_rcnn_summary():
    return dict(
        aggregate=dict(supervised=per_run(0.4851, 0.0184, 3),
                       mean_teacher=per_run(0.4953, 0.0221, 3)),
        paired={
            'mean_teacher - supervised': dict(segm_mAP=stat(
                0.0103, 0.018, 0.0104, 3)),
            # the Mask2Former teacher's pair: not this student's
            'mean_teacher - sd_teacher': dict(segm_mAP=stat(0.9, 0.1, 0.1,
                                                            3)),
        },
        runs=[dict(row='supervised', fold=0, seed=0, student='mask_rcnn')],
        settings=dict(folds=4, student='mask_rcnn'),
        command='python b.py --student mask_rcnn', commit='def5678')


def benchmark():
    run = dict(device='cpu (x86_64, 2 threads)', torch='2.0',
               statistic='median of 3 iterations after 1 warm-up')
    return dict(runs=[
        dict(run, config='configs/a.py', student='Mask2Former',
             s4m=dict(step_s=3.287), mean_teacher=dict(step_s=2.534),
             s4m_over_mean_teacher=1.2971),
        dict(run, config='configs/b.py', student='MaskRCNN',
             s4m=dict(step_s=2.184), mean_teacher=dict(step_s=1.726),
             s4m_over_mean_teacher=1.2654),
    ])


def write(folder, obj):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / 'summary.json'
    path.write_text(json.dumps(obj))
    return str(folder)


@pytest.fixture
def inputs(tmp_path):
    m2f = write(tmp_path / 'study_m2f', mask2former_summary())
    mrcnn = write(tmp_path / 'study_mrcnn', mask_rcnn_summary())
    bench = tmp_path / 'bench.json'
    bench.write_text(json.dumps(benchmark()))
    return m2f, mrcnn, str(bench), tmp_path / 'out' / 'README.md'


def table_lines(text, header):
    lines = text.split(f'## {header}\n', 1)[1].split('\n## ', 1)[0]
    return [x for x in lines.splitlines() if x.startswith('| ')]


def test_students_table_reads_every_number(inputs, capsys):
    m2f, mrcnn, bench, out = inputs
    load_tool().main(['--study', m2f, '--study', mrcnn, '--benchmark',
                      bench, '--out', str(out)])
    text = out.read_text()
    # rows in the study's order (supervised, sd_teacher, mean_teacher,
    # ..., full), not the summaries' key order; a row no study has is
    # left out; a row one study lacks is '-'
    assert table_lines(text, 'Mask AP per row') == [
        '| row | `mask2former` | `mask_rcnn` |',
        '| `supervised` | 0.088 ± 0.053 (4) | 0.485 ± 0.018 (3) |',
        '| `sd_teacher` | 0.114 ± 0.073 (4) | - |',
        '| `mean_teacher` | - | 0.495 ± 0.022 (3) |',
        '| `full` | 0.197 ± 0.103 (3) | - |',
    ]
    # t = mean / sem: 0.016 / 0.008, 0.05 / 0.02, 0.0103 / 0.0104; each
    # student's pairs against its own teacher row
    assert table_lines(text, 'Paired differences') == [
        '| student | difference | mask AP | t |',
        '| `mask2former` | `full - mean_teacher` | 0.016 ± 0.026 (3) | '
        '2.00 |',
        '| `mask2former` | `full - sd_teacher` | 0.050 ± 0.050 (3) | 2.50 |',
        '| `mask_rcnn` | `mean_teacher - supervised` | 0.010 ± 0.018 (3) | '
        '0.99 |',
    ]
    assert table_lines(text, 'Cost of an iteration') == [
        '| student | config | S4M step (s) | mean teacher step (s) | '
        'S4M / mean teacher |',
        '| Mask2Former | `configs/a.py` | 3.29 | 2.53 | 1.30 |',
        '| MaskRCNN | `configs/b.py` | 2.18 | 1.73 | 1.27 |',
    ]
    assert ('python tools/analysis/benchmark_iteration.py configs/a.py '
            'configs/b.py') in text
    assert f'- `mask_rcnn`: `{mrcnn}` (MaskRCNN; commit def5678' in text
    assert f'- `mask2former`: `{m2f}` (Mask2Former; commit abc1234' in text
    # the report the table was read from is published beside it
    copy = json.loads((out.parent / 'benchmark.json').read_text())
    assert copy == benchmark()
    assert str(out) in capsys.readouterr().out


def test_students_table_names_a_missing_study(inputs):
    m2f, _, bench, out = inputs
    missing = osp.join(osp.dirname(m2f), 'no_such_study')
    with pytest.raises(FileNotFoundError,
                       match=f'--study {missing}: .*summary.json does not'):
        load_tool().main(['--study', m2f, '--study', missing,
                          '--benchmark', bench, '--out', str(out)])
    assert not out.exists()


def test_students_table_names_a_missing_benchmark(inputs):
    m2f, _, bench, out = inputs
    with pytest.raises(FileNotFoundError, match='--benchmark: .*nope.json'):
        load_tool().main(['--study', m2f, '--benchmark', bench + '.nope.json',
                          '--out', str(out)])


def test_students_table_refuses_two_studies_of_one_student(inputs, tmp_path):
    m2f, mrcnn, bench, out = inputs
    again = write(tmp_path / 'study_mrcnn_again', mask_rcnn_summary())
    with pytest.raises(ValueError, match=f'--study {again}: a second study '
                       f'of mask_rcnn \\(the first: {mrcnn}\\)'):
        load_tool().main(['--study', mrcnn, '--study', m2f, '--study',
                          again, '--benchmark', bench, '--out', str(out)])
