# Copyright (c) s4m-mm authors. All rights reserved.
"""The students table of ``tools/analysis/students_table.py``: what each
student architecture gains from S4M's components on the demo (the
published component studies' per-run mask AP and paired differences) and
what an S4M iteration costs over a mean teacher's (one
``benchmark_iteration.py`` run timing every student side by side)."""
from typing import Dict, List, Sequence

from s4m_mm.analysis.component_study.plan import ROWS
from s4m_mm.analysis.component_study.statistics import study_teacher

#: ``--student`` of a study -> the detector type its configs build
DETECTORS = dict(mask2former='Mask2Former', mask_rcnn='MaskRCNN',
                 rtmdet_ins='RTMDet')
#: the paired differences the table shows, as the study names them
PAIRS = ('full - mean_teacher', 'mean_teacher - {teacher}',
         'full - {teacher}')


def study_student(summary: Dict) -> str:
    """The ``--student`` a published summary was run with (``mask2former``
    for studies from before there were others)."""
    return summary.get('settings', {}).get('student', 'mask2former')


def mean_std(stat: Dict) -> str:
    """``'0.123 ± 0.045 (3)'``: mean ± sample std (runs) of a stat."""
    if stat is None or stat.get('mean') is None:
        return '-'
    std = stat.get('std')
    spread = '' if std is None else f' ± {std:.3f}'
    return f'{stat["mean"]:.3f}{spread} ({stat["n"]})'


def ap_table(studies: Dict[str, Dict], metric: str = 'segm_mAP'
             ) -> List[str]:
    """Markdown lines: one row per component row of :data:`ROWS` that a
    study has, one column per student, the per-run ``metric``."""
    students = list(studies)
    lines = ['| row | ' + ' | '.join(f'`{s}`' for s in students) + ' |',
             '|---|' + '---|' * len(students)]
    for row in ROWS:
        cells = [
            mean_std(studies[s]['aggregate'].get(row, {}).get(
                'per_fold_runs', {}).get(metric)) for s in students
        ]
        if all(c == '-' for c in cells):
            continue
        lines.append(f'| `{row}` | ' + ' | '.join(cells) + ' |')
    return lines


def paired_table(studies: Dict[str, Dict], metric: str = 'segm_mAP'
                 ) -> List[str]:
    """Markdown lines: each student's paired differences of :data:`PAIRS`
    (its teacher row in place of ``{teacher}``), mean ± std (runs) and t.
    """
    lines = ['| student | difference | mask AP | t |', '|---|---|---|---|']
    for student, summary in studies.items():
        teacher = study_teacher(summary.get('runs', [])) if summary.get(
            'runs') else 'sd_teacher'
        for pair in PAIRS:
            key = pair.format(teacher=teacher)
            stat = summary.get('paired', {}).get(key, {}).get(metric)
            if stat is None:
                continue
            sem = stat.get('sem')
            t = '-' if not sem else f'{stat["mean"] / sem:.2f}'
            lines.append(f'| `{student}` | `{key}` | {mean_std(stat)} | '
                         f'{t} |')
    return lines


def cost_table(benchmark: Dict) -> List[str]:
    """Markdown lines: per config of one benchmark run, its student, S4M's
    and the mean teacher's ``train_step`` (s) and their ratio."""
    runs = benchmark.get('runs', [benchmark])
    lines = ['| student | config | S4M step (s) | mean teacher step (s) | '
             'S4M / mean teacher |', '|---|---|---|---|---|']
    for r in runs:
        lines.append(f'| {r["student"]} | `{r["config"]}` | '
                     f'{r["s4m"]["step_s"]:.2f} | '
                     f'{r["mean_teacher"]["step_s"]:.2f} | '
                     f'{r["s4m_over_mean_teacher"]:.2f} |')
    return lines


def render(studies: Dict[str, Dict], study_paths: Dict[str, str],
           benchmark: Dict, benchmark_command: str,
           command: Sequence[str]) -> str:
    """The students README: AP per row and student, paired differences,
    iteration cost, and where every number comes from."""
    first = benchmark.get('runs', [benchmark])[0]
    lines = [
        '# Students on the demo', '',
        'Written by `tools/analysis/students_table.py` from the published '
        'component studies and one `benchmark_iteration.py` report; every '
        'number below is read from them.', '',
        '## Mask AP per row', '',
        'Each (fold, seed) run of a row on its fold\'s test tiles: mean ± '
        'std (runs). The rows are those of each study (`configs/s4m/demo/'
        'components/`); a Mask R-CNN or RTMDet-Ins student\'s teacher is '
        'its `supervised` row (no `sd_teacher`: the paper\'s SD is defined on '
        'Mask2Former\'s queries).', ''
    ] + ap_table(studies) + [
        '', '## Paired differences', '',
        'Per (fold, seed) run, the first row\'s mask AP minus the '
        'second\'s on the same test tiles and with the same teacher: mean '
        '± std (runs), t = mean / sem.', ''
    ] + paired_table(studies) + [
        '', '## Cost of an iteration', '',
        f'One run of `{benchmark_command}` on {first.get("device")}, '
        f'torch {first.get("torch")} '
        f'({first.get("statistic")}): each student\'s S4M iteration (SAM '
        'refinement, ARP, strong augmentation, EMA) against the same '
        'student trained as a plain mean teacher, timed one after the '
        'other.', ''
    ] + cost_table(benchmark) + [
        '', '## Sources', ''
    ] + [
        f'- `{s}`: `{path}` ({DETECTORS.get(s, s)}; commit '
        f'{studies[s].get("commit")}, `{studies[s].get("command")}`)'
        for s, path in study_paths.items()
    ] + ['', 'Written by `' + ' '.join(command) + '`.', '']
    return '\n'.join(lines)
