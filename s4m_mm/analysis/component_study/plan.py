# Copyright (c) s4m-mm authors. All rights reserved.
"""What a component study runs: its rows and their configs, the ``(fold,
seed)`` runs, where each lives in the work dir, its split and the
``--cfg-options`` of its training.

Names used below: ``row`` is one of :data:`ROWS` (str), ``fold`` and
``seed`` are ints, ``args`` is the study's parsed command line (an
``argparse.Namespace`` with ``work_dir``, ``folds``, ``split_seed``,
``num_labeled``, ``num_dev``, ``max_iters`` (``{row: int}``),
``val_interval``, ``patience``, ``min_delta`` and ``cfg_options``).
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from s4m_mm import demo

COMPONENTS = 'configs/s4m/demo/components'
#: row -> its training config, relative to the repository root
CONFIGS = {
    'supervised': demo.BASELINE,
    'sd_teacher': demo.TEACHER,
    'mean_teacher': f'{COMPONENTS}/s4m-mean-teacher_effl0_nuclei.py',
    'refine_only': f'{COMPONENTS}/s4m-refine-only_effl0_nuclei.py',
    'arp_unrefined': f'{COMPONENTS}/s4m-arp-unrefined_effl0_nuclei.py',
    'full': f'{COMPONENTS}/s4m-full_effl0_nuclei.py',
}
ROWS = tuple(CONFIGS)
#: the rows that train from the teacher row of their (fold, seed)
STUDENTS = ROWS[2:]


def detector_configs(plain: str, tag: str) -> Dict[str, str]:
    """The rows of a study of a detector student without Mask2Former's
    queries: its ``plain`` supervised config (also the students' teacher,
    having no SD stage) and the four students
    ``components/s4m-{row}_{tag}_effl0_nuclei.py``."""
    return {
        'supervised': plain,
        **{
            row: f'{COMPONENTS}/s4m-{row.replace("_", "-")}_{tag}_effl0_'
            'nuclei.py'
            for row in STUDENTS
        }
    }


#: the demo's Mask R-CNN and RTMDet-Ins: each supervised baseline is its
#: students' teacher
MASK_RCNN_PLAIN = 'configs/s4m/demo/mask-rcnn_effl0_nuclei_sup.py'
MASK_RCNN_CONFIGS = detector_configs(MASK_RCNN_PLAIN, 'mask-rcnn')
RTMDET_INS_PLAIN = 'configs/s4m/demo/rtmdet-ins_effl0_nuclei_sup.py'
RTMDET_INS_CONFIGS = detector_configs(RTMDET_INS_PLAIN, 'rtmdet-ins')
#: a study's student architecture (``--student``) -> the configs of its
#: rows, the row its students learn from (their stage-1 teacher) and the
#: plain detector config that tests every model (exported students too)
STUDENT_KINDS = dict(
    mask2former=dict(configs=CONFIGS, teacher_row='sd_teacher',
                     plain=demo.BASELINE),
    mask_rcnn=dict(configs=MASK_RCNN_CONFIGS, teacher_row='supervised',
                   plain=MASK_RCNN_PLAIN),
    rtmdet_ins=dict(configs=RTMDET_INS_CONFIGS, teacher_row='supervised',
                    plain=RTMDET_INS_PLAIN))
METRICS = ('segm_mAP', 'segm_mAP_50', 'bbox_mAP', 'bbox_mAP_50')
LABELS = dict(segm_mAP='mask AP', segm_mAP_50='mask AP50',
              bbox_mAP='box AP', bbox_mAP_50='box AP50')
MONITOR = 'coco/segm_mAP'
NUM_TILES = 16
#: iteration ceilings; early stopping usually ends a run before
DEFAULT_MAX_ITERS = dict(supervised=1000, sd_teacher=1000, mean_teacher=400,
                         refine_only=400, arp_unrefined=400, full=400)
#: a student exported as a plain detector, in its run's folder
EXPORTED = 'student_mask2former.pth'


def student_kind(args) -> Dict:
    """The :data:`STUDENT_KINDS` entry of the study's ``--student``
    (``mask2former`` for results and namespaces without one)."""
    return STUDENT_KINDS[getattr(args, 'student', 'mask2former')]


def config_of(args, row: str) -> str:
    """The training config of ``row`` in the study's student kind.

    Raises ``ValueError`` naming the row when that kind has none (e.g.
    ``sd_teacher`` for Mask R-CNN, whose stage 1 is supervised).
    """
    configs = student_kind(args)['configs']
    if row not in configs:
        raise ValueError(
            f'row {row!r} has no config for --student '
            f'{getattr(args, "student", "mask2former")} (rows: '
            f'{", ".join(configs)})')
    return configs[row]


def teacher_row(args) -> str:
    """The row whose best checkpoint the students of a ``(fold, seed)``
    learn from: ``sd_teacher`` (Mask2Former) or ``supervised``."""
    return student_kind(args)['teacher_row']


def parse_runs(values: Optional[Sequence[str]], num_folds: int,
               seeds: Sequence[int],
               fold_ids: Sequence[int]) -> List[Tuple[int, int]]:
    """The ``(fold, seed)`` runs of a call, in order: ``values`` (the
    ``--runs`` strings ``'FOLD:SEED'``) as given, else every seed of
    ``seeds`` with every fold of ``fold_ids``.

    Raises ``ValueError`` naming the ``--runs`` value at fault (not
    ``FOLD:SEED``, a fold outside ``[0, num_folds)``, a pair twice).
    """
    if values is None:
        return [(f, s) for s in seeds for f in fold_ids]
    runs = []
    for value in values:
        fold, sep, seed = value.partition(':')
        try:
            pair = (int(fold), int(seed))
        except ValueError:
            pair = None
        if not sep or pair is None:
            raise ValueError(
                f'--runs {value!r}: expected FOLD:SEED, e.g. 1:1')
        if not 0 <= pair[0] < num_folds:
            raise ValueError(
                f'--runs {value!r}: fold {pair[0]} out of range: with '
                f'--folds {num_folds} the folds are 0..{num_folds - 1}')
        if pair in runs:
            raise ValueError(f'--runs {value!r} given twice')
        runs.append(pair)
    return runs


def parse_max_iters(values: Sequence[str]) -> Dict[str, int]:
    """Iteration ceilings ``{row: int}``: :data:`DEFAULT_MAX_ITERS`
    updated by ``values``, each ``'N'`` (every row) or ``'ROW=N'``.

    Raises ``ValueError`` naming the value at fault.
    """
    caps = dict(DEFAULT_MAX_ITERS)
    for value in values:
        row, sep, number = value.rpartition('=')
        if sep and row not in ROWS:
            raise ValueError(f'--max-iters {value!r}: unknown row {row!r} '
                             f'(rows: {", ".join(ROWS)})')
        try:
            n = int(number)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(
                f'--max-iters {value!r}: N must be an integer >= 1')
        caps.update({row: n} if sep else dict.fromkeys(ROWS, n))
    return caps


def ordered_rows(rows: Sequence[str],
                 teacher: str = 'sd_teacher') -> Tuple[List[str], bool]:
    """``rows`` in :data:`ROWS` order, with the students' ``teacher`` row
    added when a student is asked for without it; and whether it was
    added."""
    out = [r for r in ROWS if r in rows]
    add = teacher not in out and bool(set(out) & set(STUDENTS))
    if add:
        out.append(teacher)
        out = [r for r in ROWS if r in out]
    return out, add


def run_dir(work_dir: str, fold: int, seed: int, row: str) -> str:
    """``WORK_DIR/fold{f}/seed{s}/{row}``: one run's folder."""
    return osp.join(work_dir, f'fold{fold}', f'seed{seed}', row)


def data_root(work_dir: str, fold: int, seed: int) -> str:
    """``WORK_DIR/fold{f}/seed{s}/data``: the dataset of a run's split."""
    return osp.join(work_dir, f'fold{fold}', f'seed{seed}', 'data')


def split_seed(args, seed: int) -> int:
    """The seed of the split a run with training seed ``seed`` uses."""
    return seed if args.split_seed is None else args.split_seed


def split_settings(args, fold: int, seed: int) -> Dict:
    """The split of the run ``(fold, seed)``: ``{num_folds, fold, seed,
    num_labeled, num_dev}``; its ``seed`` is the split's (``--split-seed``,
    else the training seed)."""
    return dict(num_folds=args.folds, fold=fold,
                seed=split_seed(args, seed),
                num_labeled=args.num_labeled, num_dev=args.num_dev)


def run_settings(args) -> Dict:
    """What a run's result.json records of the settings it ran with."""
    return dict(val_interval=args.val_interval, patience=args.patience,
                min_delta=args.min_delta,
                cfg_options=list(args.cfg_options))


def schedule_options(args, row: str, seed: int) -> List[str]:
    """The seed, the schedule stretched to the row's ceiling, the best
    checkpoint and early stopping on :data:`MONITOR`."""
    n = args.max_iters[row]
    every = min(args.val_interval, n)
    return [
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


def train_options(args, row: str, root: str, seed: int,
                  teacher: Optional[str] = None) -> List[str]:
    """The ``--cfg-options`` of a training run (list of str): the fold's
    data at ``root`` (validation on the dev tiles), the schedule of
    :func:`schedule_options`, a student's ``teacher`` checkpoint, then the
    user's options."""
    val = 'dev' if args.num_dev else 'val'
    data = [o for o in demo.data_options(root, semi=row in STUDENTS)
            if not o.startswith('val_evaluator.ann_file=')]
    data += [f'val_dataloader.dataset.ann_file=annotations/{val}.json',
             f'val_evaluator.ann_file={root}/annotations/{val}.json']
    teacher_opt = [
        f'default_hooks.teacher_schedule.teacher_checkpoint={teacher}'
    ] if row in STUDENTS else []
    return (data + schedule_options(args, row, seed) + teacher_opt +
            list(args.cfg_options))
