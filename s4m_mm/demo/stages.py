# Copyright (c) s4m-mm authors. All rights reserved.
"""The stages of the nuclei demo (``make demo``, ``tools/run_demo.py``),
end to end on the CPU:

1. builds the demo data from the stardist==0.9.2 wheel (once);
2. ``supervised``: the Mask2Former baseline on the labeled tiles;
3. ``sd_teacher``: S4M stage 1, the same model plus SAM structural
   distillation from LiteMedSAM;
4. ``pseudo_labels``: mask IoU / precision / recall of that teacher's
   pseudo-labels on the unlabeled tiles against their hidden GT, before and
   after SAM refinement;
5. ``mean_teacher``: the same student trained from that teacher as a plain
   mean teacher (no SAM, no ARP; ``configs/s4m/demo/components/``), what
   S4M is measured against;
6. ``s4m_student``: S4M stage 2 from that teacher on labeled + unlabeled
   tiles (SAM refinement, ARP, guided burn-in, EMA), exported as a plain
   Mask2Former;
7. prints one table and writes it to ``<work-dir>/summary.json``.

Every model is evaluated on the val tiles by ``tools/test.py`` with the
*baseline* config: each deployed model is a plain Mask2Former. Every step is
the command a user would type, run as a subprocess
(:mod:`s4m_mm.demo.commands`). A subset of the stages can be run; results
of earlier stages are kept in the summary.

The stage functions take the demo's settings as ``args``: any object with
``work_dir``, ``data_root`` (paths relative to the source checkout or
absolute) and ``cfg_options`` (a list of ``key=value`` passed to every
``tools/train.py`` call), e.g. the ``argparse.Namespace`` of the tool.
"""
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, Sequence

from .commands import (BASELINE, MEAN_TEACHER, ROOT, STUDENT, TEACHER,
                       check_source_checkout, data_options, evaluate,
                       last_checkpoint, prepare_data, run_command, train)
from .table import print_table
from .training_log import logged_pseudo_label_quality

#: the stages, in the order the demo runs them
STAGES = ('supervised', 'sd_teacher', 'pseudo_labels', 'mean_teacher',
          's4m_student')


def stage_supervised_or_teacher(config: str, name: str, args) -> Dict:
    """Train ``config`` on the labeled tiles in ``work_dir/name`` and test
    its last checkpoint: ``config``, ``checkpoint``, ``train_seconds``,
    ``metrics``."""
    stage_dir = osp.join(args.work_dir, name)
    ckpt, seconds = train(config, stage_dir,
                          data_options(args.data_root) + args.cfg_options)
    return dict(config=config, checkpoint=ckpt, train_seconds=seconds,
                metrics=evaluate(ckpt, stage_dir, args.data_root))


def teacher_checkpoint(args) -> str:
    """The SD teacher's last checkpoint (of the ``sd_teacher`` stage)."""
    return last_checkpoint(osp.join(args.work_dir, 'sd_teacher'))


def stage_student(args, config: str = STUDENT,
                  name: str = 's4m_student') -> Dict:
    """A stage-2 student from the SD teacher, exported and tested; also the
    pseudo-label quality its training logged."""
    stage_dir = osp.join(args.work_dir, name)
    options = data_options(args.data_root, semi=True) + [
        'default_hooks.teacher_schedule.teacher_checkpoint='
        f'{teacher_checkpoint(args)}'
    ] + args.cfg_options
    ckpt, seconds = train(config, stage_dir, options)
    exported = osp.join(stage_dir, 'student_mask2former.pth')
    run_command([sys.executable,
                 'tools/model_converters/s4m_to_mmdet.py', ckpt,
                 exported])
    return dict(config=config, checkpoint=exported, train_seconds=seconds,
                metrics=evaluate(exported, stage_dir, args.data_root),
                pseudo_labels_in_training=logged_pseudo_label_quality(
                    stage_dir))


def stage_pseudo_labels(args) -> Dict:
    """``tools/analysis/pseudo_label_quality.py`` of the SD teacher on the
    unlabeled tiles against their hidden GT: its JSON report."""
    out = osp.join(args.work_dir, 'pseudo_label_quality.json')
    run_command([
        sys.executable, 'tools/analysis/pseudo_label_quality.py', STUDENT,
        teacher_checkpoint(args), '--gt-ann',
        f'{args.data_root}/annotations/unlabeled_gt.json', '--out', out,
        '--cfg-options', f'val_dataloader.dataset.data_root='
        f'{args.data_root}/'
    ])
    with open(out) as f:
        return json.load(f)


def run_stage(stage: str, args) -> Dict:
    """One stage of :data:`STAGES`: its result."""
    if stage == 'supervised':
        return stage_supervised_or_teacher(BASELINE, stage, args)
    if stage == 'sd_teacher':
        return stage_supervised_or_teacher(TEACHER, stage, args)
    if stage == 'mean_teacher':
        return stage_student(args, MEAN_TEACHER, stage)
    if stage == 's4m_student':
        return stage_student(args)
    if stage == 'pseudo_labels':
        return stage_pseudo_labels(args)
    raise ValueError(f'unknown demo stage {stage!r} (stages: '
                     f'{", ".join(STAGES)})')


def run_demo(args, stages: Sequence[str] = STAGES) -> Dict:
    """Run ``stages`` in order from the source checkout (the working
    directory changes to it), keeping the results of earlier calls in
    ``work_dir/summary.json``, which is written after each stage; then
    print the table.

    Returns:
        dict: the summary: ``stages`` (name -> result), ``pseudo_labels``,
        ``data`` (the demo data's ``summary.json``) and
        ``wall_seconds_of_this_run``.
    """
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f'unknown demo stages {unknown} (stages: '
                         f'{", ".join(STAGES)})')
    check_source_checkout()
    os.chdir(ROOT)
    os.makedirs(args.work_dir, exist_ok=True)
    prepare_data(args.data_root)
    path = osp.join(args.work_dir, 'summary.json')
    summary = {'stages': {}}
    if osp.isfile(path):
        with open(path) as f:
            summary = json.load(f)
    with open(osp.join(args.data_root, 'summary.json')) as f:
        summary['data'] = json.load(f)
    start = time.time()
    for stage in stages:
        result = run_stage(stage, args)
        if stage == 'pseudo_labels':
            summary['pseudo_labels'] = result
        else:
            summary['stages'][stage] = result
        with open(path, 'w') as f:
            json.dump(summary, f, indent=2)
    summary['wall_seconds_of_this_run'] = round(time.time() - start, 1)
    with open(path, 'w') as f:
        json.dump(summary, f, indent=2)
    print_table(summary)
    print(f'\nsummary: {path}')
    return summary
