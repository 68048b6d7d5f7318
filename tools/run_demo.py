# Copyright (c) s4m-mm authors. All rights reserved.
"""The README's main job: the nuclei demo, end to end, on the CPU.

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
the command a user would type, run as a subprocess. ``--stages`` runs a
subset; results of earlier stages are kept in the summary.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
BASELINE = 'configs/s4m/demo/mask2former_effl0_nuclei_sup.py'
TEACHER = 'configs/s4m/demo/s4m-teacher_effl0_nuclei.py'
STUDENT = 'configs/s4m/demo/s4m-student_effl0_nuclei.py'
MEAN_TEACHER = 'configs/s4m/demo/components/s4m-mean-teacher_effl0_nuclei.py'
STAGES = ('supervised', 'sd_teacher', 'pseudo_labels', 'mean_teacher',
          's4m_student')
REPORTED = ('bbox_mAP', 'bbox_mAP_50', 'segm_mAP', 'segm_mAP_50')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/nuclei')
    parser.add_argument(
        '--stages', nargs='+', choices=STAGES, default=list(STAGES))
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='passed to every tools/train.py call, e.g. train_cfg.max_iters=4')
    return parser.parse_args()


def run(cmd):
    print('$ ' + ' '.join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def prepare_data(data_root):
    if osp.isfile(osp.join(data_root, 'summary.json')):
        print(f'demo data: {data_root} (already built)')
        return
    run([
        sys.executable, 'tools/dataset_converters/prepare_nuclei_demo.py',
        '--out-dir', data_root
    ])


def data_options(data_root, semi=False):
    roots = ['train_dataloader.dataset.datasets.0.data_root',
             'train_dataloader.dataset.datasets.1.data_root'] if semi else \
        ['train_dataloader.dataset.data_root']
    roots += ['val_dataloader.dataset.data_root',
              'test_dataloader.dataset.data_root']
    ann = f'{data_root}/annotations/val.json'
    return [f'{k}={data_root}/' for k in roots] + [
        f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}']


def last_checkpoint(stage_dir):
    with open(osp.join(stage_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def train(config, stage_dir, options, extra=(), run_cmd=None):
    """``tools/train.py``; ``extra`` arguments go after the options and
    ``run_cmd`` (default :func:`run`) runs the command."""
    start = time.time()
    (run_cmd or run)([
        sys.executable, 'tools/train.py', config, '--work-dir', stage_dir,
        '--cfg-options'
    ] + options + list(extra))
    return last_checkpoint(stage_dir), round(time.time() - start, 1)


def test(checkpoint, stage_dir, data_root, extra=(), run_cmd=None):
    """``tools/test.py`` with the baseline config on the val tiles of
    ``data_root``: ``{metric: value}``."""
    metrics_file = osp.join(stage_dir, 'test_metrics.json')
    (run_cmd or run)([
        sys.executable, 'tools/test.py', BASELINE, checkpoint, '--work-dir',
        stage_dir, '--metrics-out', metrics_file
    ] + list(extra) + ['--cfg-options'] + data_options(data_root))
    with open(metrics_file) as f:
        return {k.split('/')[-1]: v for k, v in json.load(f).items()}


def stage_supervised_or_teacher(config, name, args):
    stage_dir = osp.join(args.work_dir, name)
    ckpt, seconds = train(config, stage_dir,
                          data_options(args.data_root) + args.cfg_options)
    return dict(config=config, checkpoint=ckpt, train_seconds=seconds,
                metrics=test(ckpt, stage_dir, args.data_root))


def teacher_checkpoint(args):
    return last_checkpoint(osp.join(args.work_dir, 'sd_teacher'))


def stage_student(args, config=STUDENT, name='s4m_student'):
    """A stage-2 student from the SD teacher, exported and tested."""
    stage_dir = osp.join(args.work_dir, name)
    options = data_options(args.data_root, semi=True) + [
        'default_hooks.teacher_schedule.teacher_checkpoint='
        f'{teacher_checkpoint(args)}'
    ] + args.cfg_options
    ckpt, seconds = train(config, stage_dir, options)
    exported = osp.join(stage_dir, 'student_mask2former.pth')
    run([sys.executable, 'tools/model_converters/s4m_to_mask2former.py',
         ckpt, exported])
    return dict(config=config, checkpoint=exported, train_seconds=seconds,
                metrics=test(exported, stage_dir, args.data_root),
                pseudo_labels_in_training=logged_pseudo_label_quality(
                    stage_dir))


def logged_pseudo_label_quality(stage_dir, resumed=False):
    """Mean over the measured iterations of the ``plq_*`` scalars that
    PseudoLabelQualityHook wrote to ``vis_data/scalars.json``:
    ``{stage: {metric: value}}`` for teacher, refined and arp, and
    ``measured_iterations``.

    Read from the last run in ``stage_dir``, or, for a training continued
    with ``--resume`` (``resumed=True``), from every timestamped run in it,
    a step that a later run logged again (the iterations after the resumed
    checkpoint) taking the later run's values.
    """
    runs = sorted(d for d in os.listdir(stage_dir)
                  if osp.isfile(osp.join(stage_dir, d, 'vis_data',
                                         'scalars.json')))
    by_step = {}
    for run in runs if resumed else runs[-1:]:
        path = osp.join(stage_dir, run, 'vis_data', 'scalars.json')
        logged = {}
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                plq = {k: v for k, v in record.items()
                       if k.startswith('plq_')}
                if not plq:
                    continue
                if 'step' not in record:
                    raise ValueError(f'{path}: a line with plq_* scalars '
                                     f'and no "step": {line.strip()}')
                logged.setdefault(record['step'], {}).update(plq)
        by_step.update(logged)
    if not by_step:
        return {}
    values = {}
    for step in sorted(by_step):
        for key, value in by_step[step].items():
            values.setdefault(key, []).append(value)
    quality = {}
    for key, series in values.items():
        _, stage, metric = key.split('_', 2)
        quality.setdefault(stage, {})[metric] = sum(series) / len(series)
    quality['measured_iterations'] = max(map(len, values.values()))
    return quality


def stage_pseudo_labels(args):
    out = osp.join(args.work_dir, 'pseudo_label_quality.json')
    run([sys.executable, 'tools/analysis/pseudo_label_quality.py', STUDENT,
         teacher_checkpoint(args), '--gt-ann',
         f'{args.data_root}/annotations/unlabeled_gt.json', '--out', out,
         '--cfg-options', f'val_dataloader.dataset.data_root='
         f'{args.data_root}/'])
    with open(out) as f:
        return json.load(f)


def print_table(summary):
    stages = summary.get('stages', {})
    header = f'{"model":<14}' + ''.join(f'{k:>13}' for k in REPORTED) + \
        f'{"train (s)":>11}'
    print('\n' + header + '\n' + '-' * len(header))
    for name, res in stages.items():
        row = ''.join(f'{res["metrics"].get(k, float("nan")):>13.3f}'
                      for k in REPORTED)
        print(f'{name:<14}{row}{res["train_seconds"]:>11.0f}')
    quality = summary.get('pseudo_labels')
    if quality:
        print(f'\n{"pseudo-labels (unlabeled tiles vs hidden GT)":<46}'
              f'{"mean IoU":>9}{"precision":>10}{"recall":>8}{"count":>7}')
        for key in ('teacher', 'refined'):
            q = quality[key]
            print(f'{key:<46}{q["mean_iou"]:>9.3f}{q["precision"]:>10.3f}'
                  f'{q["recall"]:>8.3f}{q["num_pseudo"]:>7d}')
    logged = stages.get('s4m_student', {}).get('pseudo_labels_in_training')
    if logged:
        title = ('pseudo-labels in student training (mean, '
                 f'{logged["measured_iterations"]} batches)')
        print(f'\n{title:<46}{"mean IoU":>9}{"precision":>10}'
              f'{"recall":>8}')
        for key in ('teacher', 'refined', 'arp'):
            q = logged.get(key, {})
            print(f'{key:<46}' + ''.join(
                f'{q.get(m, float("nan")):>{w}.3f}'
                for m, w in (('iou', 9), ('precision', 10), ('recall', 8))))


def main():
    args = parse_args()
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
    for stage in args.stages:
        if stage == 'supervised':
            summary['stages'][stage] = stage_supervised_or_teacher(
                BASELINE, stage, args)
        elif stage == 'sd_teacher':
            summary['stages'][stage] = stage_supervised_or_teacher(
                TEACHER, stage, args)
        elif stage == 'mean_teacher':
            summary['stages'][stage] = stage_student(args, MEAN_TEACHER,
                                                     stage)
        elif stage == 's4m_student':
            summary['stages'][stage] = stage_student(args)
        else:
            summary['pseudo_labels'] = stage_pseudo_labels(args)
        with open(path, 'w') as f:
            json.dump(summary, f, indent=2)
    summary['wall_seconds_of_this_run'] = round(time.time() - start, 1)
    with open(path, 'w') as f:
        json.dump(summary, f, indent=2)
    print_table(summary)
    print(f'\nsummary: {path}')


if __name__ == '__main__':
    main()
