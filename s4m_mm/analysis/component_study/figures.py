# Copyright (c) s4m-mm authors. All rights reserved.
"""The figures of a component study's summary: AP per row and run
(``component_study.png``) and the dev AP curves (``val_curves.png``)."""
import os.path as osp
from typing import Dict, List

from .plan import LABELS, METRICS

#: the file names :func:`plot` writes, in order
FIGURES = ('component_study.png', 'val_curves.png')


def plot_metrics(plt, summary: Dict, path: str) -> None:
    """AP per row: each ``(fold, seed)`` run a dot, its rows joined by a
    line, so that a row seen on fewer folds is not read against the
    others' mean; a diamond: the pooled AP of a row that has every
    fold."""
    agg = summary['aggregate']
    rows = list(agg)
    runs = summary['runs']
    units = sorted({(x['fold'], x['seed']) for x in runs})
    by_unit = {(x['fold'], x['seed'], x['row']): x for x in runs}
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for ax, m in zip(axes.flat, METRICS):
        for i, (fold, seed) in enumerate(units):
            points = [(x, by_unit[(fold, seed, row)]['metrics'].get(m))
                      for x, row in enumerate(rows)
                      if (fold, seed, row) in by_unit]
            points = [(x, v) for x, v in points if v is not None]
            ax.plot([p[0] for p in points], [p[1] for p in points], '-o',
                    lw=0.8, ms=4, color=plt.cm.tab10(i % 10),
                    label=f'fold {fold}, seed {seed}')
        label = 'pooled, all folds'  # in the legend once
        for x, row in enumerate(rows):
            s = agg[row]['pooled_over_seeds'][m]
            if agg[row]['complete'] and s['mean'] is not None:
                ax.plot(x + 0.15, s['mean'], 'D', color='k', ms=6,
                        label=label)
                label = None
        ax.set_title(LABELS[m] + ' per run (lines join a run\'s rows; '
                     '◆ all folds pooled)', fontsize=9)
        ax.set_xticks(range(len(rows)))
        counts = [agg[row]['per_fold_runs'][METRICS[0]]['n'] for row in rows]
        ax.set_xticklabels([
            f'{row}\n{n} run' + ('' if n == 1 else 's')
            for row, n in zip(rows, counts)], rotation=30, fontsize=8)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_curves(plt, summary: Dict, path: str) -> None:
    """Dev mask AP against iteration of every run, a row a panel, the
    best one marked (a run without a ``curve`` is left out)."""
    rows = list(summary['aggregate'])
    fig, axes = plt.subplots(1, len(rows), figsize=(3.2 * len(rows), 3),
                             sharey=True, squeeze=False)
    for ax, row in zip(axes[0], rows):
        for x in summary['runs']:
            if x['row'] != row or not x.get('curve'):
                continue
            its = [p['iter'] for p in x['curve']]
            aps = [p['segm_mAP'] for p in x['curve']]
            line, = ax.plot(its, aps, lw=1,
                            label=f'f{x["fold"]} s{x["seed"]}')
            if x['best_iter'] in its:
                ax.plot(x['best_iter'], aps[its.index(x['best_iter'])], '*',
                        color=line.get_color())
        ax.set_title(row, fontsize=9)
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel('dev mask AP')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot(summary: Dict, out_dir: str) -> List[str]:
    """Write :data:`FIGURES` into ``out_dir``: their paths."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    paths = [osp.join(out_dir, name) for name in FIGURES]
    plot_metrics(plt, summary, paths[0])
    plot_curves(plt, summary, paths[1])
    return paths
