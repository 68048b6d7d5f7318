# Copyright (c) s4m-mm authors. All rights reserved.
"""The study's loop over its ``(fold, seed)`` runs and rows, and what it
does about a student's teacher: refuse a student whose teacher
checkpoint is gone, or (``--retrain-teachers``) train that teacher again
and go on only if it reproduces its recorded result."""
import glob
import os
import os.path as osp
from typing import Dict, List

from s4m_mm import demo
from .plan import STUDENTS, run_dir, teacher_row
from .runs import RunCmd, read_json, resolve, run_one, write_json

#: what a teacher trained again must reproduce of its recorded result
REPRODUCED = ('curve', 'best_iter', 'stopped_iter', 'metrics')


def check_teacher(args, fold: int, seed: int, row: str,
                  teacher: str) -> None:
    """A student still to train needs its teacher's checkpoint, which a
    finished study keeps on disk: refuse, naming it, when it is gone (a
    work dir copied without its models)."""
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
    teacher_dir = run_dir(args.work_dir, fold, seed, teacher_row(args))
    result_file = osp.join(teacher_dir, 'result.json')
    if not osp.isfile(result_file):
        return False
    checkpoint = resolve(args.work_dir,
                         read_json(result_file)['train_checkpoint'])
    pending = [r for r in args.rows if r in STUDENTS and not osp.isfile(
        osp.join(run_dir(args.work_dir, fold, seed, r), 'result.json'))]
    return bool(pending) and not osp.isfile(checkpoint)


def put_back(teacher_dir: str, recorded: Dict[str, Dict]) -> None:
    """Remove the checkpoints in ``teacher_dir`` (no model other than the
    recorded one is taken for it by a later call) and write the recorded
    ``{file name: content}`` back."""
    for path in glob.glob(osp.join(teacher_dir, '*.pth')):
        os.remove(path)
    for name, content in recorded.items():
        write_json(osp.join(teacher_dir, name), content)


def retrain_teacher(args, fold: int, seed: int, run_cmd: RunCmd) -> Dict:
    """Train the ``(fold, seed)`` teacher again (its checkpoint is gone)
    and check that it is the same model: the dev AP curve, the best and
    last iterations and the test metrics must equal the recorded ones
    (training here is deterministic for a seed on one kind of machine).
    On a difference the new model's checkpoints are removed, the recorded
    result is put back and the call fails (``RuntimeError``), since the
    students would learn from another teacher than the one recorded; a
    training that fails or is interrupted puts the recorded result back
    too."""
    teacher_dir = run_dir(args.work_dir, fold, seed, teacher_row(args))
    recorded = {name: read_json(osp.join(teacher_dir, name))
                for name in ('result.json', 'train.json')}
    print(f'{teacher_dir}: checkpoint gone, training the teacher again '
          f'(seed {seed})')
    for name in recorded:
        os.remove(osp.join(teacher_dir, name))
    try:
        result = run_one(args, fold, seed, teacher_row(args), run_cmd)
    except BaseException:  # cut off or failed: the record stays as it was
        put_back(teacher_dir, recorded)
        raise
    differ = [k for k in REPRODUCED
              if result.get(k) != recorded['result.json'].get(k)]
    if differ:
        put_back(teacher_dir, recorded)
        raise RuntimeError(
            f'{teacher_dir}: the teacher trained again differs from the '
            f'recorded one in {differ} (recorded '
            f'{[recorded["result.json"].get(k) for k in differ]}, now '
            f'{[result.get(k) for k in differ]}); its recorded result is '
            'kept and no student is trained')
    print(f'{teacher_dir}: reproduced ({", ".join(REPRODUCED)} equal)')
    return result


def run_study(args, run_cmd: RunCmd = demo.run_command) -> List[Dict]:
    """Every row of ``args.rows`` for every ``(fold, seed)`` of
    ``args.runs``, in that order (a student after its teacher): the list
    of their result.json contents."""
    results = []
    for fold, seed in args.runs:
        teacher = None
        for row in args.rows:
            if row in STUDENTS:
                check_teacher(args, fold, seed, row, teacher)
            if row == teacher_row(args) and args.retrain_teachers and \
                    teacher_is_missing(args, fold, seed):
                res = retrain_teacher(args, fold, seed, run_cmd)
            else:
                res = run_one(args, fold, seed, row, run_cmd, teacher)
            if row == teacher_row(args):
                teacher = resolve(args.work_dir, res['train_checkpoint'])
            results.append(res)
    return results
