# Copyright (c) s4m-mm authors. All rights reserved.
"""One run of a component study: its fold's dataset, its training, its
test on the fold's test tiles, and the files it leaves in its folder
(``train.json`` once trained, ``result.json`` once tested, read back by
:func:`collect`).

``run_cmd`` is a callable taking one command line (list of str) and
running it (``s4m_mm.demo.run_command``; the tests pass a fake).
"""
import contextlib
import glob
import json
import os
import os.path as osp
import resource
import shutil
import sys
import time
import warnings
from typing import Callable, Dict, List, Optional, Tuple

from s4m_mm import demo
from .plan import (EXPORTED, METRICS, MONITOR, STUDENTS, config_of,
                   data_root, run_dir, run_settings, split_settings,
                   student_kind, train_options)

RunCmd = Callable[[List[str]], None]


def write_json(path: str, obj) -> None:
    """Write ``obj`` as json, atomically (a reader sees all or nothing;
    processes on other folds of one work dir write summary.json too)."""
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def read_json(path: str):
    """The json object in the file ``path``."""
    with open(path) as f:
        return json.load(f)


def relative(work_dir: str, path: str) -> str:
    """``path`` as result.json records it: relative to the work dir, so
    that a study's results (copied, or moved) hold on another machine."""
    return osp.relpath(path, work_dir)


def resolve(work_dir: str, path: Optional[str]) -> Optional[str]:
    """A path of a result.json, absolute (older results hold absolute
    paths, which ``osp.join`` keeps)."""
    return None if path is None else osp.normpath(osp.join(work_dir, path))


def prepare_fold(args, fold: int, seed: int, run_cmd: RunCmd) -> str:
    """The fold's dataset (built once): its data root. Raises
    ``RuntimeError`` when the root holds another split."""
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


def checkpoint_iter(path: str) -> int:
    """The iteration of a checkpoint ``..._iter_{i}.pth`` or
    ``iter_{i}.pth``."""
    return int(osp.basename(path)[:-4].rsplit('_', 1)[-1])


def best_checkpoint(stage_dir: str) -> Optional[str]:
    """The latest ``best_coco_segm_mAP_iter_*.pth`` of a run, or None."""
    name = 'best_' + MONITOR.replace('/', '_') + '_iter_'
    found = sorted(glob.glob(osp.join(stage_dir, name + '*.pth')),
                   key=checkpoint_iter)
    return found[-1] if found else None


def timed(fn: Callable) -> Tuple[object, float, float]:
    """``fn()``, its wall seconds and its child processes' CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    out = fn()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime -
                                                before.ru_stime)
    return out, round(time.time() - start, 1), round(cpu, 1)


def clear_for_training(args, stage_dir: str) -> List[str]:
    """Make ``stage_dir`` ready for a training cut off before: with
    ``--resume`` and a last checkpoint, remove what an earlier training
    exported and tested and return ``['--resume']``; else remove the
    folder and return ``[]``."""
    if not osp.isdir(stage_dir):
        return []
    if args.resume and osp.isfile(osp.join(stage_dir, 'last_checkpoint')):
        print(f'resuming {stage_dir} from its last checkpoint')
        for stale in (EXPORTED, 'test'):  # of an earlier training
            path = osp.join(stage_dir, stale)
            if osp.isdir(path):
                shutil.rmtree(path)
            elif osp.exists(path):
                os.remove(path)
        return ['--resume']
    print(f'restarting {stage_dir}: cut off in training'
          + ('' if args.resume else ' (--resume continues instead)'))
    shutil.rmtree(stage_dir)
    return []


def train_run(args, row: str, stage_dir: str, options: List[str],
              run_cmd: RunCmd) -> Dict:
    """Train (or take the finished training of) one run: ``train.json``,
    ``{checkpoint, best_iter, stopped_iter, max_iters, curve,
    train_seconds, train_cpu_seconds, resumed}``."""
    done = osp.join(stage_dir, 'train.json')
    if osp.isfile(done):
        return read_json(done)
    extra = clear_for_training(args, stage_dir)
    os.makedirs(stage_dir, exist_ok=True)
    (last, _), wall, cpu = timed(lambda: demo.train(
        config_of(args, row), stage_dir, options, extra,
        run_cmd=run_cmd))
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


def finished_result(args, stage_dir: str, row: str) -> Optional[Dict]:
    """A run's ``result.json`` when it has one (noting settings other than
    this call's), else None."""
    result_file = osp.join(stage_dir, 'result.json')
    if not osp.isfile(result_file):
        return None
    result = read_json(result_file)
    print(f'{stage_dir}: done (result.json), not repeated')
    now = dict(run_settings(args), max_iters=args.max_iters[row])
    then = dict(result.get('settings', {}),
                max_iters=result.get('max_iters'))
    if now != then:
        print(f'  note: it ran with {then}, not {now}')
    return result


def run_one(args, fold: int, seed: int, row: str, run_cmd: RunCmd,
            teacher: Optional[str] = None) -> Dict:
    """One run of the study, or its result.json when it has one: train,
    export a student, test on the fold's test tiles, write
    ``result.json`` and prune the checkpoints."""
    stage_dir = run_dir(args.work_dir, fold, seed, row)
    result = finished_result(args, stage_dir, row)
    if result is not None:
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
                'tools/model_converters/s4m_to_mmdet.py', checkpoint,
                exported
            ])
        checkpoint = exported
    predictions = osp.join(stage_dir, 'test', 'predictions.pkl')
    plain = student_kind(args)['plain']
    metrics, test_wall, _ = timed(lambda: demo.evaluate(
        checkpoint, osp.join(stage_dir, 'test'), root,
        ['--out', predictions], run_cmd=run_cmd, config=plain))
    result = dict(
        row=row, fold=fold, seed=seed, config=config_of(args, row),
        student=getattr(args, 'student', 'mask2former'),
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
    write_json(osp.join(stage_dir, 'result.json'), result)
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


def collect(work_dir: str) -> List[Dict]:
    """Every ``WORK_DIR/fold*/seed*/*/result.json``, sorted by path."""
    return [
        read_json(p) for p in sorted(
            glob.glob(osp.join(work_dir, 'fold*', 'seed*', '*',
                               'result.json')))
    ]
