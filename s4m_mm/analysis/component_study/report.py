# Copyright (c) s4m-mm authors. All rights reserved.
"""The printed tables of a component study's summary (the dict of
:func:`~s4m_mm.analysis.component_study.statistics.summarize`): each run,
the pooled and per-fold APs per row, the paired differences, iterations
and times, pseudo-label quality."""
from typing import Dict, List, Optional

from .plan import LABELS, METRICS, ROWS
from .statistics import PSEUDO_LABEL_MEASURES, PSEUDO_LABEL_STAGES


def fmt(stat: Dict, digits: int = 3) -> str:
    """``'mean ± std'`` of a stat, ``'mean'`` without a std, ``'-'``
    without values."""
    if stat['mean'] is None:
        return '-'
    if stat['std'] is None:
        return f'{stat["mean"]:.{digits}f}'
    return f'{stat["mean"]:.{digits}f} ± {stat["std"]:.{digits}f}'


def fmt_sem(stat: Dict, digits: int = 3) -> str:
    """:func:`fmt` followed by ``' (sem)'`` when the stat has one."""
    sem = '' if stat['sem'] is None else f' ({stat["sem"]:.{digits}f})'
    return fmt(stat, digits) + sem


def run_order(runs: List[Dict]) -> List[Dict]:
    """``runs`` by row (:data:`ROWS` order), fold, seed."""
    order = {r: i for i, r in enumerate(ROWS)}
    return sorted(runs, key=lambda x: (order[x['row']], x['fold'],
                                       x['seed']))


def print_runs(runs: List[Dict]) -> None:
    """Each finished run: its fold's test APs and the dev iterations of
    its best checkpoint and of its stop, rows in :data:`ROWS` order."""
    print('\neach run on its fold\'s test tiles (best checkpoint on the dev '
          'tiles, and where the run stopped)')
    header = f'{"row":<14}{"fold":>5}{"seed":>5}' + ''.join(
        f'{LABELS[m]:>10}' for m in METRICS) + f'{"best":>7}{"stop":>7}'
    print(header + '\n' + '-' * len(header))
    for x in run_order(runs):
        print(f'{x["row"]:<14}{x["fold"]:>5}{x["seed"]:>5}' + ''.join(
            f'{x["metrics"][m]:>10.3f}' for m in METRICS) +
              f'{x["best_iter"]:>7}{x["stopped_iter"]:>7}')


def print_pooled(summary: Dict, header: str) -> None:
    """Per row, the stats over its pools, then each pool."""
    print(header + '\n' + '-' * len(header))
    for row, a in summary['aggregate'].items():
        cells = ''.join(f'{fmt_sem(a["pooled_over_seeds"][m]):>24}'
                        for m in METRICS)
        print(f'{row:<14}{len(a["seeds"]):>6}{a["folds_pooled"]:>6}{cells}')
        for key in a['seeds']:
            e = summary['pooled'][row][key]
            seeds = ','.join(str(s) for s in e['seeds'])
            print(f'{"  " + key + " seeds " + seeds:<26}' + ''.join(
                f'{e[m]:>24.3f}' for m in METRICS))


def print_paired(paired: Dict) -> None:
    """Each paired difference, then its runs' differences."""
    print('\npaired differences, per (fold, seed) run on the same test '
          'tiles: mean ± std (sem), n runs, then each run')
    print(f'{"row - against":<30}{"n":>4}' + ''.join(
        f'{LABELS[m]:>24}' for m in METRICS))
    for name, e in paired.items():
        cells = ''.join(f'{fmt_sem(e[m]):>24}' for m in METRICS)
        print(f'{name:<30}{e[METRICS[0]]["n"]:>4}{cells}')
        for i, (fold, seed) in enumerate(e['runs']):
            print(f'{f"  fold {fold} seed {seed}":<34}' + ''.join(
                f'{e[m]["values"][i]:>+24.3f}' for m in METRICS))


def print_times(agg: Dict) -> None:
    """Per row, the iterations and training times."""
    print('\niterations over all runs; training times over the runs '
          'trained in one process (n: a resumed run\'s earlier processes '
          'were not timed)')
    print(f'{"row":<14}{"best iter":>16}{"stopped at":>16}'
          f'{"train wall s":>16}{"train CPU s":>16}{"n":>4}')
    for row, a in agg.items():
        print(f'{row:<14}' + ''.join(
            f'{fmt(a[k], 0):>16}' for k in ('best_iter', 'stopped_iter',
                                            'train_seconds',
                                            'train_cpu_seconds')) +
              f'{a["train_seconds"]["n"]:>4}')


def pseudo_label_cell(quality: Dict, stage: str) -> str:
    """``'iou / precision / recall'`` means of one stage, ``-`` where
    not logged."""
    vals: List[Optional[float]] = [
        quality[stage][m]['mean'] for m in PSEUDO_LABEL_MEASURES]
    return ' / '.join('-' if v is None else f'{v:.3f}' for v in vals)


def print_pseudo_labels(agg: Dict) -> None:
    """Per student row, the mean pseudo-label quality of each stage."""
    students = [r for r in agg if 'pseudo_labels' in agg[r]]
    if not students:
        return
    print('\npseudo-labels during training vs the unlabeled tiles\' '
          'hidden GT (mean over runs): IoU / precision / recall')
    print(f'{"row":<14}' + ''.join(f'{s:>24}' for s in PSEUDO_LABEL_STAGES))
    for row in students:
        q = agg[row]['pseudo_labels']
        print(f'{row:<14}' + ''.join(
            f'{pseudo_label_cell(q, stage):>24}'
            for stage in PSEUDO_LABEL_STAGES))


def print_table(summary: Dict) -> None:
    """Every table of the summary, in order."""
    agg = summary['aggregate']
    print_runs(summary['runs'])
    print('\nAP of the predictions of all folds pooled into one evaluation '
          '(per split, or split/seed): mean ± std over them (sem), then '
          'each with its training seeds')
    header = f'{"row":<14}{"pools":>6}{"folds":>6}' + ''.join(
        f'{LABELS[m]:>24}' for m in METRICS)
    print_pooled(summary, header)
    print('\nper-fold runs (each fold and seed one value): mean ± std')
    print(header.replace('pools', ' runs').replace('folds', '     '))
    for row, a in agg.items():
        n = a['per_fold_runs'][METRICS[0]]['n']
        print(f'{row:<14}{n:>6}{"":>6}' + ''.join(
            f'{fmt(a["per_fold_runs"][m]):>24}' for m in METRICS))
    if summary.get('paired'):
        print_paired(summary['paired'])
    print_times(agg)
    print_pseudo_labels(agg)
