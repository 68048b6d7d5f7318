# Copyright (c) s4m-mm authors. All rights reserved.
"""The statistics of a component study: mean, sample std and standard
error; AP of several folds' predictions pooled into one COCO evaluation;
paired differences between rows; Student's t thresholds; and
:func:`summarize`, the content of ``summary.json``.

A *stat* below is the dict of :func:`mean_std_sem`: ``{'n': int, 'mean':
float | None, 'std': float | None, 'sem': float | None, 'values':
[float]}``. A *result* is the content of one run's ``result.json``
(``row``, ``fold``, ``seed``, ``split``, ``metrics``, ...).
"""
import contextlib
import io
import math
import os.path as osp
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .plan import METRICS, ROWS, STUDENT_KINDS, STUDENTS
from .runs import resolve

#: paired comparisons (row, against): per (fold, seed) run, the first
#: row's AP minus the second's, on the same test tiles and teacher
CONTRASTS = (('sd_teacher', 'supervised'), ('refine_only', 'mean_teacher'),
             ('arp_unrefined', 'mean_teacher'), ('full', 'mean_teacher'),
             ('full', 'refine_only'), ('full', 'arp_unrefined'),
             ('mean_teacher', 'sd_teacher'), ('full', 'sd_teacher'))
#: the pseudo-label stages a student logs, and their measures
PSEUDO_LABEL_STAGES = ('teacher', 'refined', 'arp')
PSEUDO_LABEL_MEASURES = ('iou', 'precision', 'recall')


def mean_std_sem(values: Iterable[float]) -> Dict:
    """Mean, sample standard deviation (ddof 1) and standard error of the
    mean (std / sqrt(n)); std and sem are None for fewer than 2 values."""
    v = np.asarray(list(values), dtype=float)
    if len(v) == 0:
        return dict(n=0, mean=None, std=None, sem=None, values=[])
    std = float(v.std(ddof=1)) if len(v) > 1 else None
    return dict(n=len(v), mean=float(v.mean()), std=std,
                sem=None if std is None else std / math.sqrt(len(v)),
                values=v.tolist())


def t_threshold(n: int, level: float = 0.95) -> Optional[float]:
    """The two-sided ``level`` threshold of Student's t with ``n - 1``
    degrees of freedom (3.18 for n = 4, 4.30 for n = 3): a mean of ``n``
    paired differences is beyond its own noise when ``|mean / sem|``
    passes it. None for ``n < 2``."""
    if n < 2:
        return None
    from scipy.stats import t
    return float(t.ppf(1 - (1 - level) / 2, n - 1))


def t_statistic(stat: Dict) -> Optional[float]:
    """``mean / sem`` of a stat; None without a (non-zero) sem."""
    if stat.get('sem') in (None, 0) or stat.get('mean') is None:
        return None
    return stat['mean'] / stat['sem']


def pooled_metrics(gt_file: str, prediction_files: Sequence[str]) -> Dict:
    """Mask and box AP of the predictions of several folds evaluated
    together, by mmdet's ``CocoMetric`` against ``gt_file`` restricted to the
    images predicted (all of them when every fold is there): ``{metric:
    float for METRICS, 'num_images': int, 'num_instances': int}``. Raises
    ``ValueError`` when an image is predicted twice."""
    from mmengine.fileio import load

    from mmdet.evaluation import CocoMetric
    samples = [s for path in prediction_files for s in load(path)]
    ids = [int(s['img_id']) for s in samples]
    if len(set(ids)) != len(ids):
        raise ValueError(f'{prediction_files}: an image is predicted twice')
    metric = CocoMetric(ann_file=gt_file, metric=['bbox', 'segm'])
    cats = metric._coco_api.cats
    metric.dataset_meta = dict(
        classes=tuple(cats[k]['name'] for k in sorted(cats)))
    metric.process({}, samples)
    metric.img_ids = sorted(ids)
    with contextlib.redirect_stdout(io.StringIO()):  # COCOeval's tables
        out = metric.compute_metrics(metric.results)
    num = len(metric._coco_api.get_ann_ids(img_ids=sorted(ids)))
    return dict({k: float(out[k]) for k in METRICS}, num_images=len(ids),
                num_instances=num)


def pooling_groups(runs: List[Dict]) -> Dict[str, List[Dict]]:
    """The runs of one row whose predictions are evaluated together: those
    of one split (each run's ``split['seed']``) when no fold is in it
    twice (one seed per fold, or the default split per seed), else those
    of one split and one training seed. Keys: the split seed, or
    ``'{split}/{seed}'``."""
    by_split = {}
    for x in runs:
        by_split.setdefault(x['split'].get('seed', x['seed']), []).append(x)
    groups = {}
    for split, members in sorted(by_split.items()):
        folds = [x['fold'] for x in members]
        if len(set(folds)) == len(folds):
            groups[str(split)] = members
            continue
        for x in members:
            key = f'{split}/{x["seed"]}'
            groups.setdefault(key, []).append(x)
    return groups


def contrasts(teacher: str = 'sd_teacher') -> List[Tuple[str, str]]:
    """The row pairs compared when the students' teacher is the row
    ``teacher``: :data:`CONTRASTS`, with ``supervised`` in the place of
    ``sd_teacher`` for a student whose stage 1 is supervised (Mask R-CNN;
    the pair ``sd_teacher - supervised`` falls away)."""
    pairs = [tuple(teacher if r == 'sd_teacher' else r for r in pair)
             for pair in CONTRASTS]
    return [(a, b) for a, b in pairs if a != b]


def study_teacher(results: List[Dict]) -> str:
    """The teacher row of the student kind the results were run with
    (recorded as ``student``; ``mask2former`` before there were others).

    Raises ``ValueError`` when the results mix student kinds.
    """
    kinds = sorted({x.get('student', 'mask2former') for x in results})
    if len(kinds) > 1:
        raise ValueError(f'the results mix student kinds {kinds}: one work '
                         'dir per --student')
    return STUDENT_KINDS[kinds[0] if kinds else 'mask2former']['teacher_row']


def paired_differences(results: List[Dict],
                       teacher: str = 'sd_teacher') -> Dict:
    """For each pair of :func:`contrasts` present, under the key ``'{row}
    - {against}'``: the ``(fold, seed)`` runs that have both rows
    (``runs``, ``[[fold, seed]]``) and, per metric, the stat of the
    per-run AP differences (rounded to 6 decimals). The noise of a
    comparison is that of the paired difference, which cancels what the
    test tiles and the teacher share."""
    by_unit = {(x['fold'], x['seed'], x['row']): x for x in results}
    out = {}
    for a, b in contrasts(teacher):
        units = sorted((f, s) for f, s, r in by_unit
                       if r == a and (f, s, b) in by_unit)
        if not units:
            continue
        entry = dict(runs=[list(u) for u in units])
        for m in METRICS:
            diffs = [by_unit[u + (a, )]['metrics'][m] -
                     by_unit[u + (b, )]['metrics'][m] for u in units]
            entry[m] = mean_std_sem(round(d, 6) for d in diffs)
        out[f'{a} - {b}'] = entry
    return out


def pool_row(runs: List[Dict], work_dir: str) -> Dict[str, Dict]:
    """The pooled evaluations of one row's runs, per group of
    :func:`pooling_groups`: ``{key: {folds, seeds, metric..., num_images,
    num_instances}}``, the metrics only when every prediction file of the
    group is there (paths of ``runs`` relative to ``work_dir``)."""
    pooled = {}
    for key, group in pooling_groups(runs).items():
        group.sort(key=lambda x: (x['fold'], x['seed']))
        files = [resolve(work_dir, x['predictions']) for x in group]
        entry = dict(folds=[x['fold'] for x in group],
                     seeds=[x['seed'] for x in group])
        if all(osp.isfile(p) for p in files):
            gt = osp.join(resolve(work_dir, group[0]['data_root']),
                          'annotations', 'all.json')
            entry.update(pooled_metrics(gt, files))
        pooled[key] = entry
    return pooled


def pseudo_label_quality(runs: List[Dict]) -> Dict[str, Dict[str, Dict]]:
    """``{stage: {measure: stat}}`` of the pseudo-label quality the
    student ``runs`` logged."""
    return {
        stage: {
            m: mean_std_sem(
                x['pseudo_labels'][stage][m] for x in runs
                if m in x.get('pseudo_labels', {}).get(stage, {}))
            for m in PSEUDO_LABEL_MEASURES
        }
        for stage in PSEUDO_LABEL_STAGES
    }


def aggregate_row(row: str, runs: List[Dict], pooled: Dict[str, Dict],
                  num_folds: int) -> Dict:
    """One row's entry of ``summary['aggregate']``: the stats over its
    pools with the most folds (all of them once done), over its per-fold
    runs, of its iterations and training times (those of runs trained in
    one process), and a student's pseudo-label quality."""
    whole = [x for x in runs if not x.get('resumed')]
    most = max(len(e['folds']) for e in pooled.values())
    seeds = [s for s, e in pooled.items()
             if len(e['folds']) == most and METRICS[0] in e]
    agg = dict(
        folds_pooled=most, complete=most == num_folds, seeds=seeds,
        pooled_over_seeds={
            m: mean_std_sem(pooled[s][m] for s in seeds) for m in METRICS},
        per_fold_runs={
            m: mean_std_sem(x['metrics'][m] for x in runs
                            if x['metrics'].get(m) is not None)
            for m in METRICS},
        best_iter=mean_std_sem(x['best_iter'] for x in runs),
        stopped_iter=mean_std_sem(x['stopped_iter'] for x in runs),
        # a resumed run's times are those of its last process only
        train_seconds=mean_std_sem(x['train_seconds'] for x in whole),
        train_cpu_seconds=mean_std_sem(
            x['train_cpu_seconds'] for x in whole))
    if row in STUDENTS:
        agg['pseudo_labels'] = pseudo_label_quality(runs)
    return agg


def summarize(results: List[Dict], num_folds: int, work_dir: str) -> Dict:
    """Pooled AP per row and split (or split and seed: see
    :func:`pooling_groups`), their statistics over groups, the same of the
    per-fold APs, paired differences between rows, pseudo-label quality,
    iterations and time: ``{'pooled': {row: {key: ...}}, 'aggregate':
    {row: ...}, 'paired': {...}, 'runs': results}``, rows in :data:`ROWS`
    order; the paths of ``results`` are relative to ``work_dir``."""
    pooled, aggregate = {}, {}
    rows = [r for r in ROWS if any(x['row'] == r for x in results)]
    for row in rows:
        runs = [x for x in results if x['row'] == row]
        pooled[row] = pool_row(runs, work_dir)
        aggregate[row] = aggregate_row(row, runs, pooled[row], num_folds)
    return dict(pooled=pooled, aggregate=aggregate,
                paired=paired_differences(results, study_teacher(results)),
                runs=results)
