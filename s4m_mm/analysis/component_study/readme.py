# Copyright (c) s4m-mm authors. All rights reserved.
"""The results README of a component study, written from its summary
(the dict of ``summary.json``, or of its published subset: see
:mod:`~s4m_mm.analysis.component_study.publish`): what was run, mean ±
std per row and metric, the paired differences and how to read them, each
run, the figures, and the command and commit that produced it.

Every number in it is read from the summary; none is computed from the
runs' files, so the README of a published summary equals the one it was
published with.
"""
from typing import Dict, List, Optional, Sequence

from .figures import FIGURES
from .plan import LABELS, METRICS
from .report import fmt, pseudo_label_cell, run_order
from .statistics import PSEUDO_LABEL_STAGES, t_statistic, t_threshold

TOOL = 'python tools/analysis/component_study.py'


def table(header: Sequence[str], rows: List[Sequence[str]]) -> List[str]:
    """A markdown table: its lines."""
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join('---' for _ in header) + '|']
    return lines + ['| ' + ' | '.join(r) + ' |' for r in rows]


def run_units(runs: List[Dict]) -> List[tuple]:
    """The ``(fold, seed, split seed)`` units of ``runs``, sorted."""
    return sorted({(x['fold'], x['seed'], x.get('split', {}).get('seed'))
                   for x in runs})


def reproduce_command(summary: Dict) -> str:
    """A command that trains the runs of the summary again: their rows,
    ``(fold, seed)`` pairs, split seed and settings, as recorded."""
    runs = summary['runs']
    units = run_units(runs)
    folds = summary.get('settings', {}).get('folds')
    split_seeds = {u[2] for u in units}
    parts = [TOOL, '--work-dir work_dirs/component_study']
    if folds is not None:
        parts.append(f'--folds {folds}')
    parts.append('--runs ' + ' '.join(f'{f}:{s}' for f, s, _ in units))
    if len(split_seeds) == 1 and None not in split_seeds and any(
            u[2] != u[1] for u in units):
        parts.append(f'--split-seed {split_seeds.pop()}')
    parts.append('--rows ' + ' '.join(summary['aggregate']))
    caps = {x['row']: x['max_iters'] for x in runs if 'max_iters' in x}
    if caps:
        parts.append('--max-iters ' + ' '.join(
            f'{row}={caps[row]}' for row in summary['aggregate']
            if row in caps))
    settings = runs[0].get('settings', {}) if runs else {}
    for key in ('val_interval', 'patience', 'min_delta'):
        if key in settings:
            parts.append(f'--{key.replace("_", "-")} {settings[key]}')
    return ' \\\n    '.join(parts)


#: ``--student`` -> how the README names it
STUDENT_NAMES = dict(
    mask2former="the demo's Mask2Former (stage 1: `sd_teacher`)",
    mask_rcnn="the demo's Mask R-CNN (stage 1: `supervised`, also the "
    "students' teacher)",
    rtmdet_ins="the demo's RTMDet-Ins (stage 1: `supervised`, also the "
    "students' teacher)")


def what_was_run(summary: Dict) -> List[str]:
    """The section on the rows, runs, split, stopping rule, machines."""
    settings = summary.get('settings', {})
    runs = summary['runs']
    units = run_units(runs)
    student = settings.get('student', 'mask2former')
    lines = ['## What was run', '',
             f'- student: {STUDENT_NAMES.get(student, student)} (the '
             'architecture of every row)',
             f'- rows: {", ".join(f"`{r}`" for r in summary["aggregate"])}',
             f'- {len(units)} (fold, seed) runs: ' + ', '.join(
                 f'fold {f} seed {s}' for f, s, _ in units)
             + f'; {len(runs)} trained models in all']
    if 'folds' in settings:
        splits = ', '.join(sorted({str(u[2]) for u in units}))
        lines.append(
            f'- data: the 16 tiles split into {settings["folds"]} folds '
            f'(split seed {splits}); '
            f'{settings.get("num_labeled")} labeled and '
            f'{settings.get("num_dev")} dev tiles outside the test fold')
    if 'monitor' in settings:
        lines.append(f'- early stopping on `{settings["monitor"]}` of the '
                     f'{settings.get("early_stopping_on")}')
    machines = sorted({
        (m.get('cpu'), m.get('native_bf16'), m.get('torch'))
        for m in (x.get('machine') for x in runs) if m}, key=str)
    for cpu, bf16, torch in machines:
        lines.append(f'- trained on {cpu} (native bf16: {bf16}), torch '
                     f'{torch}')
    return lines + ['']


def pool_size(pools: Dict[str, Dict], keys: Sequence[str]) -> str:
    """``'images / instances'`` of the first pool of ``keys`` (those of
    a row's aggregate have the same folds), ``-`` without one."""
    if not keys or 'num_images' not in pools[keys[0]]:
        return '-'
    pool = pools[keys[0]]
    return f'{pool["num_images"]} / {pool["num_instances"]}'


def row_tables(summary: Dict) -> List[str]:
    """Mean ± std per row and metric: over the pooled evaluations, and
    over the per-fold runs."""
    agg = summary['aggregate']
    labels = [LABELS[m] for m in METRICS]
    pooled = [[f'`{row}`', str(len(a['seeds'])), str(a['folds_pooled']),
               pool_size(summary['pooled'][row], a['seeds'])]
              + [fmt(a['pooled_over_seeds'][m]) for m in METRICS]
              for row, a in agg.items()]
    per_run = [[f'`{row}`', str(a['per_fold_runs'][METRICS[0]]['n'])]
               + [fmt(a['per_fold_runs'][m]) for m in METRICS]
               for row, a in agg.items()]
    return (['## AP per row', '',
             'The predictions of all folds of a split pooled into one COCO '
             'evaluation of every tile (each instance counted once): mean ± '
             'std over the pools (one pool: its value).', ''] +
            table(['row', 'pools', 'folds pooled', 'images / instances']
                  + labels, pooled) +
            ['', 'Each (fold, seed) run on its fold\'s test tiles: mean ± '
             'std over the runs.', ''] +
            table(['row', 'runs'] + labels, per_run) + [''])


def paired_cell(stat: Dict) -> str:
    """``mean ± std (t)`` of a paired difference, ``*`` when ``|t|``
    passes the two-sided 95 % threshold for its n."""
    t, limit = t_statistic(stat), t_threshold(stat['n'])
    if t is None:
        return fmt(stat)
    mark = ' *' if limit is not None and abs(t) >= limit else ''
    return f'{fmt(stat)} (t {t:.2f}){mark}'


def paired_tables(paired: Dict) -> List[str]:
    """The paired differences, then each run's."""
    if not paired:
        return []
    labels = [LABELS[m] for m in METRICS]
    rows = []
    for name, e in paired.items():
        n = e[METRICS[0]]['n']
        limit = t_threshold(n)
        rows.append([f'`{name}`', str(n),
                     '-' if limit is None else f'{limit:.2f}'] +
                    [paired_cell(e[m]) for m in METRICS])
    each = [[f'`{name}`', f'fold {f} seed {s}'] +
            [f'{e[m]["values"][i]:+.3f}' for m in METRICS]
            for name, e in paired.items()
            for i, (f, s) in enumerate(e['runs'])]
    return (['## Paired differences', '',
             'Per (fold, seed) run, the first row\'s AP minus the second\'s '
             'on the same test tiles (and, for students, the same teacher): '
             'mean ± std over the runs, t = mean / sem.', ''] +
            table(['row - against', 'n', 't 95 %'] + labels, rows) +
            ['', '<details><summary>each run</summary>', ''] +
            table(['row - against', 'run'] + labels, each) +
            ['', '</details>', ''])


def how_to_read(paired: Dict) -> List[str]:
    """How to read the tables: the t thresholds, multiple comparisons."""
    ns = sorted({e[METRICS[0]]['n'] for e in paired.values()})
    limits = ', '.join(f'{t_threshold(n):.2f} for {n} runs'
                       for n in ns if t_threshold(n) is not None)
    count = len(paired) * len(METRICS)
    return [
        '## How to read them', '',
        'A row\'s mean ± std mixes what its test tiles and its teacher '
        'contribute with what the row itself does; a paired difference '
        'cancels the first two, so compare rows by the paired table. A '
        'paired mean is beyond its own noise when |t| = |mean / sem| '
        'passes the two-sided 95 % threshold of Student\'s t with n - 1 '
        f'degrees of freedom (column `t 95 %`: {limits or "none"}); such '
        f'cells are marked `*`. With {count} cells, some pass by chance: '
        'a difference that does not survive a correction for their number '
        '(e.g. Bonferroni, 95 % / cells) is a direction, not a measured '
        'effect.', '']


def each_run(summary: Dict) -> List[str]:
    """Each run's test APs and iterations, and the students'
    pseudo-label quality."""
    labels = [LABELS[m] for m in METRICS]
    rows = [[f'`{x["row"]}`', str(x['fold']), str(x['seed'])] +
            ['-' if x['metrics'].get(m) is None
             else f'{x["metrics"][m]:.3f}' for m in METRICS] +
            [str(x['best_iter']), str(x['stopped_iter'])]
            for x in run_order(summary['runs'])]
    lines = (['## Each run', '',
              'Test APs of the best checkpoint on the dev tiles; `best`: '
              'its iteration, `stop`: where early stopping ended the run.',
              ''] + table(['row', 'fold', 'seed'] + labels +
                          ['best', 'stop'], rows) + [''])
    agg = summary['aggregate']
    students = [r for r in agg if 'pseudo_labels' in agg[r]]
    if students:
        lines += ['Pseudo-labels during training against the unlabeled '
                  'tiles\' hidden GT, mean over runs: IoU / precision / '
                  'recall.', ''] + table(
            ['row'] + list(PSEUDO_LABEL_STAGES),
            [[f'`{r}`'] + [pseudo_label_cell(agg[r]['pseudo_labels'], s)
                           for s in PSEUDO_LABEL_STAGES]
             for r in students]) + ['']
    return lines


def provenance(summary: Dict) -> List[str]:
    """The command, date and commit of the summary, and a command that
    trains its runs again."""
    lines = ['## How it was made', '']
    if summary.get('command'):
        lines += ['Written by', '', '```', summary['command'], '```', '']
    recorded = [f'{k}: {summary[k]}' for k in ('date', 'commit')
                if summary.get(k)]
    if recorded:
        lines += ['Summary ' + ', '.join(recorded) + '.', '']
    lines += ['The runs, trained again with the settings they recorded:',
              '',
              '```', reproduce_command(summary), '```', '']
    return lines


def render_readme(summary: Dict,
                  figures: Optional[Sequence[str]] = FIGURES) -> str:
    """The README's markdown, from ``summary`` alone; ``figures``: the
    image files next to it."""
    lines = ['# Component study: results', '',
             'Written by `tools/analysis/component_study.py` from '
             '`summary.json`; every number below is read from it.', '']
    lines += what_was_run(summary) + row_tables(summary)
    lines += paired_tables(summary.get('paired', {}))
    if summary.get('paired'):
        lines += how_to_read(summary['paired'])
    lines += each_run(summary)
    if figures:
        lines += ['## Figures', ''] + [f'![{name}]({name})'
                                       for name in figures] + ['']
    lines += provenance(summary)
    return '\n'.join(lines)


def write_readme(summary: Dict, path: str,
                 figures: Optional[Sequence[str]] = FIGURES) -> str:
    """Write :func:`render_readme` to ``path``: the path."""
    with open(path, 'w') as f:
        f.write(render_readme(summary, figures))
    return path
