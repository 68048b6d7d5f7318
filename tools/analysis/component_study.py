# Copyright (c) s4m-mm authors. All rights reserved.
"""Component study of S4M on the nuclei demo: k-fold over the tiles, several
seeds, every model trained until its AP on held-out tiles stops rising.

    # every tile tested once, each fold trained with its own seed (the
    # study in the README: 4 (fold, seed) runs of each row)
    python tools/analysis/component_study.py --folds 4 --split-seed 0 \\
        --runs 0:0 1:1 2:2 3:3 --work-dir work_dirs/component_study
    # then its results out of the work dir, for the repository: README,
    # the small part of summary.json and the figures
    python tools/analysis/component_study.py --summarize-only \\
        --work-dir work_dirs/component_study \\
        --publish docs/results/component_study
    # or crossed: every seed on every fold (3x the cost)
    python tools/analysis/component_study.py --seeds 0 1 2 --folds 4 \\
        --work-dir work_dirs/component_study

Rows (``--rows``): ``supervised`` (the Mask2Former baseline on the labeled
tiles), ``sd_teacher`` (S4M stage 1) and four students of that same
teacher, each a config of ``configs/s4m/demo/components/``:
``mean_teacher`` (no SAM, no ARP), ``refine_only`` (+ SAM refinement),
``arp_unrefined`` (+ ARP on the unrefined pseudo-labels) and ``full`` (S4M).
A student row needs its fold and seed's teacher; ``sd_teacher`` is added
when a student is asked for without it.

``--student mask_rcnn`` runs the same study on the demo's Mask R-CNN
(``configs/s4m/demo/mask-rcnn_effl0_nuclei_sup.py``), ``--student
rtmdet_ins`` on its RTMDet-Ins (``rtmdet-ins_effl0_nuclei_sup.py``): their
stage 1 is the supervised baseline (the paper's SD is defined on
Mask2Former's queries), so their rows are ``supervised`` (also the
students' teacher) and the four students
(``components/s4m-*_{mask-rcnn,rtmdet-ins}_effl0_nuclei.py``)::

    python tools/analysis/component_study.py --student mask_rcnn \
        --folds 4 --split-seed 0 --runs 0:0 1:1 2:2 \
        --work-dir work_dirs/component_study_mask_rcnn

Data: the 16 tiles are split into ``--folds`` folds
(``s4m_mm.demo.nuclei_data.fold_tiles``, seeded by ``--split-seed``, by
default by each run's training seed), so that with all folds every tile,
every instance, is a test tile exactly once a split. Of the other tiles,
``--num-labeled`` are labeled, ``--num-dev`` are held out for early
stopping (``dev``; never trained on, never tested on) and the rest are
unlabeled (their GT only measures pseudo-labels). Each run's dataset is
written to ``WORK_DIR/fold{f}/seed{s}/data``.

Training: every ``--val-interval`` iterations the model is evaluated on the
dev tiles; mmengine's ``CheckpointHook(save_best='coco/segm_mAP')`` keeps
the best checkpoint and ``ResumableEarlyStoppingHook`` (mmengine's
``EarlyStoppingHook`` with its count in checkpoints) stops the run when
dev mask AP has not risen by ``--min-delta`` for ``--patience``
evaluations, or at the ``--max-iters`` ceiling (the configs' lr schedule
stretched to it). The best
checkpoint (a student exported as a plain Mask2Former) is evaluated on the
fold's test tiles by ``tools/test.py`` with the baseline config, its
predictions kept.

Each run lives in ``WORK_DIR/fold{f}/seed{s}/{row}`` and ends by writing
``result.json`` (atomically): a run with one is never repeated. A run whose
training finished (``train.json``) is only evaluated again; a run cut off
in training is started again from scratch, or continued from its last
checkpoint with ``--resume`` (exactly: ``RNGStateHook`` restores the
random states and validates the resumed iteration again,
``ResumableEarlyStoppingHook`` restores the patience count). A finished
run keeps one checkpoint, the plain Mask2Former it tested (for the
teacher, the best one its students start from), unless
``--keep-checkpoints``.

Summary (``WORK_DIR/summary.json``, ``component_study.png``,
``val_curves.png`` and a printed table): per row, mask and box AP / AP50 of
the predictions of all folds of a split pooled into one COCO evaluation of
every tile (each instance counted once; a split whose folds were trained
with several seeds each pools per seed), with mean, sample std and
standard error over the pools; the same statistics of the per-run APs;
paired differences between rows (``statistics.CONTRASTS``) over the
``(fold, seed)`` runs that have both, which cancel what the test tiles and the
shared teacher contribute; the pseudo-label quality logged by each student
run; the dev AP curve of every run; train iterations, wall and CPU
seconds. ``README.md`` in the work dir: the results written from the
summary (what was run, mean ± std per row and metric, the paired
differences and how to read them, the command, date and commit).
``--summarize-only`` writes the summary and README of the runs done so far
without training; ``--publish DIR`` writes the README, the part of the
summary it cites and the figures into ``DIR``.

The code is the package ``s4m_mm.analysis.component_study``; this file is
its command line.
"""
import argparse
import os
import os.path as osp
import shlex
import sys
import time
from typing import Dict, Optional, Sequence

from s4m_mm import demo
from s4m_mm.analysis.component_study.figures import plot
from s4m_mm.analysis.component_study.plan import (DEFAULT_MAX_ITERS, MONITOR,
                                                  NUM_TILES, ROWS,
                                                  STUDENT_KINDS,
                                                  ordered_rows,
                                                  parse_max_iters,
                                                  parse_runs, teacher_row)
from s4m_mm.analysis.component_study.publish import (git_commit, publish,
                                                     utc_now)
from s4m_mm.analysis.component_study.readme import write_readme
from s4m_mm.analysis.component_study.report import print_table
from s4m_mm.analysis.component_study.runs import RunCmd, collect, write_json
from s4m_mm.analysis.component_study.statistics import summarize
from s4m_mm.analysis.component_study.teachers import run_study
from s4m_mm.demo import ROOT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/component_study')
    parser.add_argument(
        '--student', choices=list(STUDENT_KINDS), default='mask2former',
        help='the architecture of every row: the demo\'s Mask2Former '
        '(stage 1: sd_teacher), its Mask R-CNN or its RTMDet-Ins (stage 1: '
        'supervised, no sd_teacher row); one work dir per student')
    parser.add_argument('--seeds', type=int, nargs='+',
                        help='training seeds, each on every fold of '
                        '--fold-ids (default: 0 1 2)')
    parser.add_argument('--folds', type=int, default=4,
                        help='K of the k-fold split of the 16 tiles')
    parser.add_argument('--fold-ids', type=int, nargs='+',
                        help='run only these folds (default: all)')
    parser.add_argument(
        '--runs', nargs='+', default=None, metavar='FOLD:SEED',
        help='exactly these (fold, training seed) runs instead of every '
        '--seeds x --fold-ids pair; e.g. 0:0 1:1 2:2 3:3 with --split-seed '
        '0 tests every tile once, each fold trained with its own seed')
    parser.add_argument(
        '--split-seed', type=int, default=None,
        help='seed of the k-fold split of the tiles (default: each run\'s '
        'training seed, so every seed has its own split)')
    parser.add_argument('--rows', nargs='+', choices=ROWS, default=None,
                        help='default: every row of --student')
    parser.add_argument('--num-labeled', type=int, default=3)
    parser.add_argument('--num-dev', type=int, default=2,
                        help='tiles held out for early stopping; 0 stops '
                        'on the test tiles (selection on the test set)')
    parser.add_argument(
        '--max-iters', nargs='+', default=[], metavar='[ROW=]N',
        help='iteration ceilings: N for every row or ROW=N for one '
        f'(default {DEFAULT_MAX_ITERS})')
    parser.add_argument('--val-interval', type=int, default=50)
    parser.add_argument('--patience', type=int, default=4,
                        help='evaluations without a rise before stopping')
    parser.add_argument('--min-delta', type=float, default=0.001,
                        help='smallest rise of dev mask AP that counts')
    parser.add_argument('--resume', action='store_true',
                        help='continue a run cut off in training from its '
                        'last checkpoint instead of starting it again')
    parser.add_argument(
        '--keep-checkpoints', action='store_true',
        help='keep every checkpoint; by default a finished run keeps only '
        'the plain Mask2Former it tested (~60 MB)')
    parser.add_argument(
        '--retrain-teachers', action='store_true',
        help='a student to train whose teacher has a result but no '
        'checkpoint (results copied to another machine): train the '
        'teacher again with its seed, and go on only if its dev curve and '
        'test metrics equal the recorded ones')
    parser.add_argument('--summarize-only', action='store_true',
                        help='no training: the summary and README of the '
                        'finished runs')
    parser.add_argument(
        '--publish', metavar='DIR', default=None,
        help='also write DIR/README.md, DIR/summary.json (only what the '
        'README cites) and the figures, e.g. docs/results/component_study')
    parser.add_argument(
        '--cfg-options', nargs='+', default=[],
        help='passed to every tools/train.py call, after the study\'s own')
    return parser


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 2 <= args.folds <= NUM_TILES:
        parser.error(f'--folds must be in [2, {NUM_TILES}], got '
                     f'{args.folds}')
    if args.runs is not None and (args.seeds or args.fold_ids):
        parser.error('--runs names the (fold, seed) runs itself: give it '
                     'without --seeds and --fold-ids')
    if args.seeds is None:
        args.seeds = [0, 1, 2]
    if args.fold_ids is None:
        args.fold_ids = list(range(args.folds))
    bad = [f for f in args.fold_ids if not 0 <= f < args.folds]
    if bad:
        parser.error(f'--fold-ids {bad} out of range: with --folds '
                     f'{args.folds} the folds are 0..{args.folds - 1}')
    if args.val_interval < 1 or args.patience < 1:
        parser.error('--val-interval and --patience must be >= 1')
    try:
        args.max_iters = parse_max_iters(args.max_iters)
        args.runs = parse_runs(args.runs, args.folds, args.seeds,
                               args.fold_ids)
    except ValueError as e:
        parser.error(str(e))
    configs = STUDENT_KINDS[args.student]['configs']
    if args.rows is None:
        args.rows = list(configs)
    missing = [r for r in args.rows if r not in configs]
    if missing:
        parser.error(f'--rows {missing}: no such row for --student '
                     f'{args.student} (rows: {", ".join(configs)})')
    args.rows, added = ordered_rows(args.rows, teacher_row(args))
    if added:
        print(f'rows: {teacher_row(args)} added (the students\' teacher)')
    return args


def main(argv: Optional[Sequence[str]] = None,
         run_cmd: RunCmd = demo.run_command) -> Dict:
    typed = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    args.work_dir = osp.abspath(args.work_dir)
    if args.publish is not None:
        args.publish = osp.abspath(args.publish)
    os.chdir(ROOT)
    os.makedirs(args.work_dir, exist_ok=True)
    start = time.time()
    if not args.summarize_only:
        run_study(args, run_cmd)
    results = collect(args.work_dir)
    if not results:
        print(f'{args.work_dir}: no finished run yet')
        return {}
    summary = summarize(results, args.folds, args.work_dir)
    summary['settings'] = dict(
        vars(args), monitor=MONITOR, early_stopping_on=(
            'dev tiles' if args.num_dev else 'test tiles (selection on the '
            'test set)'))
    summary['wall_seconds_of_this_call'] = round(time.time() - start, 1)
    summary.update(
        command=' '.join(['python tools/analysis/component_study.py'] +
                         [shlex.quote(a) for a in typed]),
        date=utc_now(), commit=git_commit(ROOT))
    path = osp.join(args.work_dir, 'summary.json')
    write_json(path, summary)
    print_table(summary)
    written = plot(summary, args.work_dir) + [path, write_readme(
        summary, osp.join(args.work_dir, 'README.md'))]
    if args.publish is not None:
        written += publish(summary, args.publish)
    for p in written:
        print(p)
    return summary


if __name__ == '__main__':
    main()
