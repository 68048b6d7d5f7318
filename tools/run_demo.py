# Copyright (c) s4m-mm authors. All rights reserved.
"""The README's main job: the nuclei demo, end to end, on the CPU.

1. builds the demo data from the stardist==0.9.2 wheel (once);
2. trains, on the labeled tiles, the supervised Mask2Former baseline and the
   S4M stage-1 teacher (the same model plus SAM structural distillation from
   LiteMedSAM) with ``tools/train.py``;
3. evaluates both on the val tiles with ``tools/test.py`` and the *baseline*
   config: the teacher's checkpoint is a plain Mask2Former;
4. prints COCO bbox / segm AP and writes them to ``<work-dir>/summary.json``.

Every step is the command a user would type; they run as subprocesses so
that each log is the one the user would see.
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
# stage name -> (training config, evaluation config)
STAGES = {
    'supervised': (BASELINE, BASELINE),
    'sd_teacher': ('configs/s4m/demo/s4m-teacher_effl0_nuclei.py', BASELINE),
}
REPORTED = ('bbox_mAP', 'bbox_mAP_50', 'segm_mAP', 'segm_mAP_50')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/nuclei')
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


def train_and_test(name, config, test_config, work_dir, data_root,
                   cfg_options):
    stage_dir = osp.join(work_dir, name)
    options = [f"train_dataloader.dataset.data_root={data_root}/",
               f"val_dataloader.dataset.data_root={data_root}/",
               f"test_dataloader.dataset.data_root={data_root}/",
               f"val_evaluator.ann_file={data_root}/annotations/val.json",
               f"test_evaluator.ann_file={data_root}/annotations/val.json"]
    options += cfg_options
    start = time.time()
    run([sys.executable, 'tools/train.py', config, '--work-dir', stage_dir,
         '--cfg-options'] + options)
    train_s = time.time() - start
    with open(osp.join(stage_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    metrics_file = osp.join(stage_dir, 'test_metrics.json')
    run([sys.executable, 'tools/test.py', test_config, checkpoint,
         '--work-dir', stage_dir, '--metrics-out', metrics_file,
         '--cfg-options'] + options)
    with open(metrics_file) as f:
        metrics = json.load(f)
    return {
        'config': config,
        'test_config': test_config,
        'checkpoint': checkpoint,
        'train_seconds': round(train_s, 1),
        'metrics': {k.split('/')[-1]: v
                    for k, v in metrics.items()},
    }


def print_table(results):
    header = f'{"stage":<12}' + ''.join(f'{k:>13}' for k in REPORTED)
    print('\n' + header + '\n' + '-' * len(header))
    for name, res in results.items():
        row = ''.join(f'{res["metrics"].get(k, float("nan")):>13.3f}'
                      for k in REPORTED)
        print(f'{name:<12}{row}')


def main():
    args = parse_args()
    os.chdir(ROOT)
    os.makedirs(args.work_dir, exist_ok=True)
    prepare_data(args.data_root)
    with open(osp.join(args.data_root, 'summary.json')) as f:
        data_summary = json.load(f)
    results = {}
    for name, (config, test_config) in STAGES.items():
        results[name] = train_and_test(name, config, test_config,
                                       args.work_dir, args.data_root,
                                       args.cfg_options)
    summary = {'data': data_summary, 'stages': results}
    path = osp.join(args.work_dir, 'summary.json')
    with open(path, 'w') as f:
        json.dump(summary, f, indent=2)
    print_table(results)
    print(f'\nsummary: {path}')


if __name__ == '__main__':
    main()
