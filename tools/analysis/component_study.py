# Copyright (c) s4m-mm authors. All rights reserved.
"""Component study of S4M on the nuclei demo: k-fold over the tiles, several
seeds, every model trained until its AP on held-out tiles stops rising.

    # every tile tested once, each fold trained with its own seed (the
    # study in the README: 4 (fold, seed) runs of each row)
    python tools/analysis/component_study.py --folds 4 --split-seed 0 \\
        --runs 0:0 1:1 2:2 3:3 --work-dir results/component_study
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
paired differences between rows (:data:`CONTRASTS`) over the ``(fold,
seed)`` runs that have both, which cancel what the test tiles and the
shared teacher contribute; the pseudo-label quality logged by each student
run; the dev AP curve of every run; train iterations, wall and CPU
seconds. ``--summarize-only`` writes the summary of the runs done so far
without training.
"""
import argparse
import contextlib
import glob
import io
import json
import math
import os
import os.path as osp
import resource
import shutil
import sys
import time
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from s4m_mm import demo
from s4m_mm.demo import ROOT

COMPONENTS = 'configs/s4m/demo/components'
CONFIGS = {
    'supervised': demo.BASELINE,
    'sd_teacher': demo.TEACHER,
    'mean_teacher': f'{COMPONENTS}/s4m-mean-teacher_effl0_nuclei.py',
    'refine_only': f'{COMPONENTS}/s4m-refine-only_effl0_nuclei.py',
    'arp_unrefined': f'{COMPONENTS}/s4m-arp-unrefined_effl0_nuclei.py',
    'full': f'{COMPONENTS}/s4m-full_effl0_nuclei.py',
}
ROWS = tuple(CONFIGS)
STUDENTS = ROWS[2:]
METRICS = ('segm_mAP', 'segm_mAP_50', 'bbox_mAP', 'bbox_mAP_50')
LABELS = dict(segm_mAP='mask AP', segm_mAP_50='mask AP50',
              bbox_mAP='box AP', bbox_mAP_50='box AP50')
MONITOR = 'coco/segm_mAP'
NUM_TILES = 16
#: iteration ceilings; early stopping usually ends a run before
DEFAULT_MAX_ITERS = dict(supervised=1000, sd_teacher=1000, mean_teacher=400,
                         refine_only=400, arp_unrefined=400, full=400)

#: a student exported as a plain Mask2Former, in its run's folder
EXPORTED = 'student_mask2former.pth'

RunCmd = Callable[[List[str]], None]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/component_study')
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
    parser.add_argument('--rows', nargs='+', choices=ROWS,
                        default=list(ROWS))
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
        'checkpoint (committed results in a new checkout): train the '
        'teacher again with its seed, and go on only if its dev curve and '
        'test metrics equal the recorded ones')
    parser.add_argument('--summarize-only', action='store_true',
                        help='no training: the summary of the finished runs')
    parser.add_argument(
        '--cfg-options', nargs='+', default=[],
        help='passed to every tools/train.py call, after the study\'s own')
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
    args.max_iters = parse_max_iters(args.max_iters, parser)
    args.runs = parse_runs(args, parser)
    args.rows = [r for r in ROWS if r in args.rows]
    if 'sd_teacher' not in args.rows and set(args.rows) & set(STUDENTS):
        print('rows: sd_teacher added (the students\' teacher)')
        args.rows.insert(int('supervised' in args.rows), 'sd_teacher')
    return args


def parse_runs(args, parser) -> List[Tuple[int, int]]:
    """The ``(fold, seed)`` runs of the call, in order: ``--runs`` as
    given, else every seed of ``--seeds`` with every fold of
    ``--fold-ids``."""
    if args.runs is None:
        return [(f, s) for s in args.seeds for f in args.fold_ids]
    runs = []
    for value in args.runs:
        fold, sep, seed = value.partition(':')
        try:
            pair = (int(fold), int(seed))
        except ValueError:
            pair = None
        if not sep or pair is None:
            parser.error(f'--runs {value!r}: expected FOLD:SEED, e.g. 1:1')
        if not 0 <= pair[0] < args.folds:
            parser.error(f'--runs {value!r}: fold {pair[0]} out of range: '
                         f'with --folds {args.folds} the folds are '
                         f'0..{args.folds - 1}')
        if pair in runs:
            parser.error(f'--runs {value!r} given twice')
        runs.append(pair)
    return runs


def parse_max_iters(values: Sequence[str], parser) -> Dict[str, int]:
    caps = dict(DEFAULT_MAX_ITERS)
    for value in values:
        row, sep, number = value.rpartition('=')
        if sep and row not in ROWS:
            parser.error(f'--max-iters {value!r}: unknown row {row!r} '
                         f'(rows: {", ".join(ROWS)})')
        try:
            n = int(number)
        except ValueError:
            n = 0
        if n < 1:
            parser.error(f'--max-iters {value!r}: N must be an integer >= 1')
        caps.update({row: n} if sep else dict.fromkeys(ROWS, n))
    return caps


# ---------------------------------------------------------------- runs


def write_json(path: str, obj) -> None:
    """Write ``obj`` as json, atomically (a reader sees all or nothing;
    processes on other folds of one work dir write summary.json too)."""
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def read_json(path: str):
    with open(path) as f:
        return json.load(f)


def relative(work_dir: str, path: str) -> str:
    """``path`` as result.json records it: relative to the work dir, so
    that a study's results (committed, or moved) hold on another machine."""
    return osp.relpath(path, work_dir)


def resolve(work_dir: str, path: Optional[str]) -> Optional[str]:
    """A path of a result.json, absolute (older results hold absolute
    paths, which ``osp.join`` keeps)."""
    return None if path is None else osp.normpath(osp.join(work_dir, path))


def run_dir(work_dir: str, fold: int, seed: int, row: str) -> str:
    return osp.join(work_dir, f'fold{fold}', f'seed{seed}', row)


def data_root(work_dir: str, fold: int, seed: int) -> str:
    return osp.join(work_dir, f'fold{fold}', f'seed{seed}', 'data')


def split_seed(args, seed: int) -> int:
    """The seed of the split a run with training seed ``seed`` uses."""
    return seed if args.split_seed is None else args.split_seed


def split_settings(args, fold: int, seed: int) -> Dict:
    """The split of the run ``(fold, seed)``; its ``seed`` is the split's
    (``--split-seed``, else the training seed)."""
    return dict(num_folds=args.folds, fold=fold,
                seed=split_seed(args, seed),
                num_labeled=args.num_labeled, num_dev=args.num_dev)


def prepare_fold(args, fold: int, seed: int, run_cmd: RunCmd) -> str:
    """The fold's dataset (built once): its data root."""
    root = data_root(args.work_dir, fold, seed)
    want = split_settings(args, fold, seed)
    summary_file = osp.join(root, 'summary.json')
    if osp.isfile(summary_file):
        summary = read_json(summary_file)
        have = dict(summary.get('folds', {}), seed=summary.get('seed'),
                    num_labeled=summary.get('tiles', {}).get('labeled'),
                    num_dev=summary.get('tiles', {}).get('dev'))
        if have != want:
            raise RuntimeError(
                f'{root} holds the split {have}, not {want}: use another '
                '--work-dir for other split settings')
        return root
    run_cmd([
        sys.executable, 'tools/dataset_converters/prepare_nuclei_demo.py',
        '--out-dir', root, '--num-folds', str(args.folds), '--fold',
        str(fold), '--seed', str(want['seed']), '--num-labeled',
        str(args.num_labeled), '--num-dev', str(args.num_dev)
    ])
    return root


def machine() -> Dict:
    """What result.json records of the machine a run trained on: the demo's
    SAM runs in bf16 where the CPU has native bf16 kernels and in float32
    elsewhere (``autocast_dtype='auto'``), so runs of one study made on
    different machines are not the same computation."""
    import platform

    import torch

    from s4m_mm.models.sam.precision import native_bfloat16
    cpu = platform.processor()
    with contextlib.suppress(OSError):
        with open('/proc/cpuinfo') as f:
            names = [ln.split(':', 1)[1].strip() for ln in f
                     if ln.startswith('model name')]
        cpu = names[0] if names else cpu
    return dict(cpu=cpu, cores=os.cpu_count(),
                capability=torch.backends.cpu.get_cpu_capability(),
                native_bf16=native_bfloat16(torch.device('cpu')),
                torch=torch.__version__)


def run_settings(args) -> Dict:
    """What a run's result.json records of the settings it ran with."""
    return dict(val_interval=args.val_interval, patience=args.patience,
                min_delta=args.min_delta,
                cfg_options=list(args.cfg_options))


def train_options(args, row: str, root: str, seed: int,
                  teacher: Optional[str] = None) -> List[str]:
    """The ``--cfg-options`` of a training run: the fold's data (validation
    on the dev tiles), the seed, the schedule stretched to the row's
    ceiling, best checkpoint and early stopping on dev mask AP, then the
    user's options."""
    val = 'dev' if args.num_dev else 'val'
    data = [o for o in demo.data_options(root, semi=row in STUDENTS)
            if not o.startswith('val_evaluator.ann_file=')]
    data += [f'val_dataloader.dataset.ann_file=annotations/{val}.json',
             f'val_evaluator.ann_file={root}/annotations/{val}.json']
    n = args.max_iters[row]
    every = min(args.val_interval, n)
    schedule = [
        f'randomness.seed={seed}', f'train_cfg.max_iters={n}',
        f'train_cfg.val_interval={every}', f'param_scheduler.end={n}',
        f'param_scheduler.milestones=[{max(1, int(0.8 * n))}]',
        f'default_hooks.checkpoint.interval={every}',
        'default_hooks.checkpoint.max_keep_ckpts=1',
        f'default_hooks.checkpoint.save_best={MONITOR}',
        'default_hooks.checkpoint.rule=greater',
        'default_hooks.early_stopping.type=ResumableEarlyStoppingHook',
        f'default_hooks.early_stopping.monitor={MONITOR}',
        'default_hooks.early_stopping.rule=greater',
        f'default_hooks.early_stopping.patience={args.patience}',
        f'default_hooks.early_stopping.min_delta={args.min_delta}',
        # val metrics in vis_data/scalars.json at step = iteration (the
        # curve), not at epoch 0
        'default_hooks.logger.log_metric_by_epoch=False',
    ]
    teacher_opt = [
        f'default_hooks.teacher_schedule.teacher_checkpoint={teacher}'
    ] if row in STUDENTS else []
    return data + schedule + teacher_opt + list(args.cfg_options)


def val_curve(stage_dir: str) -> List[Dict]:
    """Every validation of the run (all its timestamped folders, for a
    resumed run): ``[{'iter': i, 'segm_mAP': ..., ...}]`` by iteration."""
    points = {}
    for scalars in sorted(
            glob.glob(osp.join(stage_dir, '*', 'vis_data', 'scalars.json'))):
        with open(scalars) as f:
            for line in f:
                entry = json.loads(line)
                if MONITOR in entry:
                    points[int(entry['step'])] = {
                        m: entry.get(f'coco/{m}') for m in METRICS}
    return [dict(iter=i, **points[i]) for i in sorted(points)]


def best_checkpoint(stage_dir: str) -> Optional[str]:
    name = 'best_' + MONITOR.replace('/', '_') + '_iter_'
    found = sorted(glob.glob(osp.join(stage_dir, name + '*.pth')),
                   key=lambda p: int(p[:-4].rsplit('_', 1)[-1]))
    return found[-1] if found else None


def checkpoint_iter(path: str) -> int:
    return int(osp.basename(path)[:-4].rsplit('_', 1)[-1])


def timed(fn):
    """``fn()``, its wall seconds and its child processes' CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    out = fn()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime -
                                                before.ru_stime)
    return out, round(time.time() - start, 1), round(cpu, 1)


def train_run(args, row, stage_dir, options, run_cmd) -> Dict:
    """Train (or take the finished training of) one run: ``train.json``."""
    done = osp.join(stage_dir, 'train.json')
    if osp.isfile(done):
        return read_json(done)
    extra = []
    if osp.isdir(stage_dir):
        if args.resume and osp.isfile(osp.join(stage_dir,
                                               'last_checkpoint')):
            print(f'resuming {stage_dir} from its last checkpoint')
            extra = ['--resume']
            for stale in (EXPORTED, 'test'):  # of an earlier training
                path = osp.join(stage_dir, stale)
                if osp.isdir(path):
                    shutil.rmtree(path)
                elif osp.exists(path):
                    os.remove(path)
        else:
            print(f'restarting {stage_dir}: cut off in training'
                  + ('' if args.resume else ' (--resume continues instead)'))
            shutil.rmtree(stage_dir)
    os.makedirs(stage_dir, exist_ok=True)
    (last, _), wall, cpu = timed(lambda: demo.train(
        CONFIGS[row], stage_dir, options, extra, run_cmd=run_cmd))
    best = best_checkpoint(stage_dir)
    if best is None:
        warnings.warn(f'{stage_dir}: no best checkpoint, using the last')
        best = last
    info = dict(
        checkpoint=relative(args.work_dir, best),
        best_iter=checkpoint_iter(best),
        stopped_iter=checkpoint_iter(last), max_iters=args.max_iters[row],
        curve=val_curve(stage_dir), train_seconds=wall,
        train_cpu_seconds=cpu, resumed=bool(extra))
    write_json(done, info)
    return info


def run_one(args, fold: int, seed: int, row: str, run_cmd: RunCmd,
            teacher: Optional[str] = None) -> Dict:
    """One run of the study, or its result.json when it has one."""
    stage_dir = run_dir(args.work_dir, fold, seed, row)
    result_file = osp.join(stage_dir, 'result.json')
    if osp.isfile(result_file):
        result = read_json(result_file)
        print(f'{stage_dir}: done (result.json), not repeated')
        now = dict(run_settings(args), max_iters=args.max_iters[row])
        then = dict(result.get('settings', {}),
                    max_iters=result.get('max_iters'))
        if now != then:
            print(f'  note: it ran with {then}, not {now}')
        return result
    root = prepare_fold(args, fold, seed, run_cmd)
    options = train_options(args, row, root, seed, teacher)
    info = train_run(args, row, stage_dir, options, run_cmd)
    checkpoint = resolve(args.work_dir, info['checkpoint'])
    if row in STUDENTS:
        exported = osp.join(stage_dir, EXPORTED)
        if not osp.isfile(exported):
            run_cmd([
                sys.executable,
                'tools/model_converters/s4m_to_mask2former.py', checkpoint,
                exported
            ])
        checkpoint = exported
    predictions = osp.join(stage_dir, 'test', 'predictions.pkl')
    metrics, test_wall, _ = timed(lambda: demo.evaluate(
        checkpoint, osp.join(stage_dir, 'test'), root,
        ['--out', predictions], run_cmd=run_cmd))
    result = dict(
        row=row, fold=fold, seed=seed, config=CONFIGS[row],
        teacher=None if teacher is None else relative(args.work_dir, teacher),
        train_checkpoint=info['checkpoint'],
        tested_checkpoint=relative(args.work_dir, checkpoint),
        data_root=relative(args.work_dir, root),
        split=split_settings(args, fold, seed),
        settings=run_settings(args), machine=machine(),
        metrics={k: metrics.get(k) for k in METRICS},
        predictions=relative(args.work_dir, predictions),
        test_seconds=test_wall,
        **{k: v for k, v in info.items() if k != 'checkpoint'})
    if row in STUDENTS:
        result['pseudo_labels'] = demo.logged_pseudo_label_quality(
            stage_dir, resumed=info.get('resumed', False))
    write_json(result_file, result)
    if not args.keep_checkpoints:
        prune_checkpoints(stage_dir, keep=checkpoint)
    return result


def prune_checkpoints(stage_dir: str, keep: str) -> None:
    """Remove the checkpoints of a finished run but ``keep`` (the tested
    model; for the teacher, the best one its students start from): the
    last one with its optimizer state (``--resume``) and a student's S4M
    checkpoint (teacher + student), exported already."""
    for path in glob.glob(osp.join(stage_dir, '*.pth')):
        if osp.abspath(path) != osp.abspath(keep):
            os.remove(path)


def check_teacher(args, fold: int, seed: int, row: str,
                  teacher: str) -> None:
    """A student still to train needs its teacher's checkpoint, which a
    finished study keeps on disk but does not commit: refuse, naming it,
    when it is gone (another checkout of committed results)."""
    done = osp.join(run_dir(args.work_dir, fold, seed, row), 'result.json')
    if osp.isfile(done) or osp.isfile(teacher):
        return
    raise FileNotFoundError(
        f'{row} of fold {fold}, seed {seed} needs its teacher checkpoint '
        f'{teacher}, which is gone; --retrain-teachers trains it again '
        'with its seed and checks it against its recorded result')


def teacher_is_missing(args, fold: int, seed: int) -> bool:
    """Whether the ``(fold, seed)`` teacher has a result but no checkpoint
    while a student of the call still has to train."""
    teacher_dir = run_dir(args.work_dir, fold, seed, 'sd_teacher')
    result_file = osp.join(teacher_dir, 'result.json')
    if not osp.isfile(result_file):
        return False
    checkpoint = resolve(args.work_dir,
                         read_json(result_file)['train_checkpoint'])
    pending = [r for r in args.rows if r in STUDENTS and not osp.isfile(
        osp.join(run_dir(args.work_dir, fold, seed, r), 'result.json'))]
    return bool(pending) and not osp.isfile(checkpoint)


#: what a teacher trained again must reproduce of its recorded result
REPRODUCED = ('curve', 'best_iter', 'stopped_iter', 'metrics')


def retrain_teacher(args, fold: int, seed: int, run_cmd: RunCmd) -> Dict:
    """Train the ``(fold, seed)`` teacher again (its checkpoint is gone)
    and check that it is the same model: the dev AP curve, the best and
    last iterations and the test metrics must equal the recorded ones
    (training here is deterministic for a seed on one kind of machine).
    On a difference the new model's checkpoints are removed, the recorded
    result is put back and the call fails, since the students would learn
    from another teacher than the one recorded; a training that fails or is
    interrupted puts the recorded result back too."""
    teacher_dir = run_dir(args.work_dir, fold, seed, 'sd_teacher')
    recorded = {name: read_json(osp.join(teacher_dir, name))
                for name in ('result.json', 'train.json')}
    print(f'{teacher_dir}: checkpoint gone, training the teacher again '
          f'(seed {seed})')

    def put_back_recorded():
        # no checkpoint of another model stays to be taken for the
        # recorded one by a later call
        for path in glob.glob(osp.join(teacher_dir, '*.pth')):
            os.remove(path)
        for name, content in recorded.items():
            write_json(osp.join(teacher_dir, name), content)

    for name in recorded:
        os.remove(osp.join(teacher_dir, name))
    try:
        result = run_one(args, fold, seed, 'sd_teacher', run_cmd)
    except BaseException:  # cut off or failed: the record stays as it was
        put_back_recorded()
        raise
    differ = [k for k in REPRODUCED
              if result.get(k) != recorded['result.json'].get(k)]
    if differ:
        put_back_recorded()
        raise RuntimeError(
            f'{teacher_dir}: the teacher trained again differs from the '
            f'recorded one in {differ} (recorded '
            f'{[recorded["result.json"].get(k) for k in differ]}, now '
            f'{[result.get(k) for k in differ]}); its recorded result is '
            'kept and no student is trained')
    print(f'{teacher_dir}: reproduced ({", ".join(REPRODUCED)} equal)')
    return result


def run_study(args, run_cmd: RunCmd = demo.run_command) -> List[Dict]:
    results = []
    for fold, seed in args.runs:
        teacher = None
        for row in args.rows:
            if row in STUDENTS:
                check_teacher(args, fold, seed, row, teacher)
            if row == 'sd_teacher' and args.retrain_teachers and \
                    teacher_is_missing(args, fold, seed):
                res = retrain_teacher(args, fold, seed, run_cmd)
            else:
                res = run_one(args, fold, seed, row, run_cmd, teacher)
            if row == 'sd_teacher':
                teacher = resolve(args.work_dir, res['train_checkpoint'])
            results.append(res)
    return results


# ----------------------------------------------------------- summary


def mean_std_sem(values: Sequence[float]) -> Dict:
    """Mean, sample standard deviation (ddof 1) and standard error of the
    mean (std / sqrt(n)); std and sem are None for fewer than 2 values."""
    v = np.asarray(list(values), dtype=float)
    if len(v) == 0:
        return dict(n=0, mean=None, std=None, sem=None, values=[])
    std = float(v.std(ddof=1)) if len(v) > 1 else None
    return dict(n=len(v), mean=float(v.mean()), std=std,
                sem=None if std is None else std / math.sqrt(len(v)),
                values=v.tolist())


def pooled_metrics(gt_file: str, prediction_files: Sequence[str]) -> Dict:
    """Mask and box AP of the predictions of several folds evaluated
    together, by mmdet's ``CocoMetric`` against ``gt_file`` restricted to the
    images predicted (all of them when every fold is there)."""
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


def collect(work_dir: str) -> List[Dict]:
    return [
        read_json(p) for p in sorted(
            glob.glob(osp.join(work_dir, 'fold*', 'seed*', '*',
                               'result.json')))
    ]


#: paired comparisons (row, against): per (fold, seed) run, the first
#: row's AP minus the second's, on the same test tiles and teacher
CONTRASTS = (('sd_teacher', 'supervised'), ('refine_only', 'mean_teacher'),
             ('arp_unrefined', 'mean_teacher'), ('full', 'mean_teacher'),
             ('full', 'refine_only'), ('full', 'arp_unrefined'),
             ('mean_teacher', 'sd_teacher'), ('full', 'sd_teacher'))


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


def paired_differences(results: List[Dict]) -> Dict:
    """For each pair of :data:`CONTRASTS` present: the per-run AP
    differences over the ``(fold, seed)`` runs that have both rows, and
    their mean, std and standard error (the noise of a comparison is that
    of the paired difference, which cancels what the test tiles and the
    teacher share)."""
    by_unit = {(x['fold'], x['seed'], x['row']): x for x in results}
    out = {}
    for a, b in CONTRASTS:
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


def summarize(results: List[Dict], num_folds: int, work_dir: str) -> Dict:
    """Pooled AP per row and split (or split and seed: see
    :func:`pooling_groups`), their statistics over groups, the same of the
    per-fold APs, paired differences between rows, pseudo-label quality,
    iterations and time; the paths of ``results`` are relative to
    ``work_dir``."""
    pooled, aggregate = {}, {}
    rows = [r for r in ROWS if any(x['row'] == r for x in results)]
    for row in rows:
        runs = [x for x in results if x['row'] == row]
        whole = [x for x in runs if not x.get('resumed')]
        pooled[row] = {}
        for key, group in pooling_groups(runs).items():
            group.sort(key=lambda x: (x['fold'], x['seed']))
            files = [resolve(work_dir, x['predictions']) for x in group]
            entry = dict(folds=[x['fold'] for x in group],
                         seeds=[x['seed'] for x in group])
            if all(osp.isfile(p) for p in files):
                gt = osp.join(resolve(work_dir, group[0]['data_root']),
                              'annotations', 'all.json')
                entry.update(pooled_metrics(gt, files))
            pooled[row][key] = entry
        # over groups: those with the most folds (all of them once done)
        most = max(len(e['folds']) for e in pooled[row].values())
        seeds = [s for s, e in pooled[row].items()
                 if len(e['folds']) == most and METRICS[0] in e]
        agg = dict(
            folds_pooled=most, complete=most == num_folds, seeds=seeds,
            pooled_over_seeds={
                m: mean_std_sem(pooled[row][s][m] for s in seeds)
                for m in METRICS},
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
            agg['pseudo_labels'] = {
                stage: {
                    m: mean_std_sem(
                        x['pseudo_labels'][stage][m] for x in runs
                        if m in x.get('pseudo_labels', {}).get(stage, {}))
                    for m in ('iou', 'precision', 'recall')
                }
                for stage in ('teacher', 'refined', 'arp')
            }
        aggregate[row] = agg
    return dict(pooled=pooled, aggregate=aggregate,
                paired=paired_differences(results), runs=results)


def fmt(stat: Dict, digits: int = 3) -> str:
    if stat['mean'] is None:
        return '-'
    if stat['std'] is None:
        return f'{stat["mean"]:.{digits}f}'
    return f'{stat["mean"]:.{digits}f} ± {stat["std"]:.{digits}f}'


def print_runs(runs: List[Dict]) -> None:
    """Each finished run: its fold's test APs and the dev iterations of
    its best checkpoint and of its stop, rows in :data:`ROWS` order."""
    print('\neach run on its fold\'s test tiles (best checkpoint on the dev '
          'tiles, and where the run stopped)')
    header = f'{"row":<14}{"fold":>5}{"seed":>5}' + ''.join(
        f'{LABELS[m]:>10}' for m in METRICS) + f'{"best":>7}{"stop":>7}'
    print(header + '\n' + '-' * len(header))
    order = {r: i for i, r in enumerate(ROWS)}
    for x in sorted(runs, key=lambda x: (order[x['row']], x['fold'],
                                         x['seed'])):
        print(f'{x["row"]:<14}{x["fold"]:>5}{x["seed"]:>5}' + ''.join(
            f'{x["metrics"][m]:>10.3f}' for m in METRICS) +
              f'{x["best_iter"]:>7}{x["stopped_iter"]:>7}')


def print_table(summary: Dict) -> None:
    agg = summary['aggregate']
    print_runs(summary['runs'])
    print('\nAP of the predictions of all folds pooled into one evaluation '
          '(per split, or split/seed): mean ± std over them (sem), then '
          'each with its training seeds')
    header = f'{"row":<14}{"pools":>6}{"folds":>6}' + ''.join(
        f'{LABELS[m]:>24}' for m in METRICS)
    print(header + '\n' + '-' * len(header))
    for row, a in agg.items():
        cells = ''
        for m in METRICS:
            s = a['pooled_over_seeds'][m]
            sem = '' if s['sem'] is None else f' ({s["sem"]:.3f})'
            cells += f'{fmt(s) + sem:>24}'
        print(f'{row:<14}{len(a["seeds"]):>6}{a["folds_pooled"]:>6}{cells}')
        for key in a['seeds']:
            e = summary['pooled'][row][key]
            seeds = ','.join(str(s) for s in e['seeds'])
            print(f'{"  " + key + " seeds " + seeds:<26}' + ''.join(
                f'{e[m]:>24.3f}' for m in METRICS))
    print('\nper-fold runs (each fold and seed one value): mean ± std')
    print(header.replace('pools', ' runs').replace('folds', '     '))
    for row, a in agg.items():
        n = a['per_fold_runs'][METRICS[0]]['n']
        print(f'{row:<14}{n:>6}{"":>6}' + ''.join(
            f'{fmt(a["per_fold_runs"][m]):>24}' for m in METRICS))
    if summary.get('paired'):
        print('\npaired differences, per (fold, seed) run on the same test '
              'tiles: mean ± std (sem), n runs, then each run')
        print(f'{"row - against":<30}{"n":>4}' + ''.join(
            f'{LABELS[m]:>24}' for m in METRICS))
        for name, e in summary['paired'].items():
            cells = ''
            for m in METRICS:
                s = e[m]
                sem = '' if s['sem'] is None else f' ({s["sem"]:.3f})'
                cells += f'{fmt(s) + sem:>24}'
            print(f'{name:<30}{e[METRICS[0]]["n"]:>4}{cells}')
            for i, (fold, seed) in enumerate(e['runs']):
                print(f'{f"  fold {fold} seed {seed}":<34}' + ''.join(
                    f'{e[m]["values"][i]:>+24.3f}' for m in METRICS))
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
    students = [r for r in agg if 'pseudo_labels' in agg[r]]
    if students:
        print('\npseudo-labels during training vs the unlabeled tiles\' '
              'hidden GT (mean over runs): IoU / precision / recall')
        print(f'{"row":<14}' + ''.join(
            f'{s:>24}' for s in ('teacher', 'refined', 'arp')))
        for row in students:
            q = agg[row]['pseudo_labels']
            cells = ''
            for stage in ('teacher', 'refined', 'arp'):
                vals = [q[stage][m]['mean']
                        for m in ('iou', 'precision', 'recall')]
                cell = ' / '.join('-' if v is None else f'{v:.3f}'
                                  for v in vals)
                cells += f'{cell:>24}'
            print(f'{row:<14}{cells}')


def plot(summary: Dict, out_dir: str) -> List[str]:
    """``component_study.png`` (AP per row: each ``(fold, seed)`` run a
    dot, its rows joined by a line, so that a row seen on fewer folds is
    not read against the others' mean; a diamond: the pooled AP of a row
    that has every fold) and ``val_curves.png`` (dev mask AP against
    iteration of every run, the best one marked)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
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
    paths = [osp.join(out_dir, 'component_study.png')]
    fig.savefig(paths[0], dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(rows), figsize=(3.2 * len(rows), 3),
                             sharey=True, squeeze=False)
    for ax, row in zip(axes[0], rows):
        for x in summary['runs']:
            if x['row'] != row or not x['curve']:
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
    paths.append(osp.join(out_dir, 'val_curves.png'))
    fig.savefig(paths[1], dpi=120)
    plt.close(fig)
    return paths


def main(argv: Optional[Sequence[str]] = None,
         run_cmd: RunCmd = demo.run_command) -> Dict:
    args = parse_args(argv)
    args.work_dir = osp.abspath(args.work_dir)
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
    path = osp.join(args.work_dir, 'summary.json')
    write_json(path, summary)
    print_table(summary)
    for p in plot(summary, args.work_dir) + [path]:
        print(p)
    return summary


if __name__ == '__main__':
    main()
