# Copyright (c) s4m-mm authors. All rights reserved.
"""The commands of the nuclei demo: the repository's own tools, each run as
the subprocess a user would type, from the root of the source checkout.

``tools/run_demo.py`` and ``tools/analysis/component_study.py`` train and
test through these functions; ``run_cmd`` stands in for
:func:`run_command` (the component study's tests pass a fake that writes
what each tool would).
"""
import json
import os.path as osp
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

#: the source checkout (s4m-mm is installed editable): the tools and the
#: configs the commands name are relative to it
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASELINE = 'configs/s4m/demo/mask2former_effl0_nuclei_sup.py'
TEACHER = 'configs/s4m/demo/s4m-teacher_effl0_nuclei.py'
STUDENT = 'configs/s4m/demo/s4m-student_effl0_nuclei.py'
MEAN_TEACHER = 'configs/s4m/demo/components/s4m-mean-teacher_effl0_nuclei.py'

RunCmd = Callable[[List[str]], None]


def check_source_checkout(root: str = ROOT) -> None:
    """Refuse, naming the folder, when ``root`` holds no ``tools/`` (an
    installed copy of the package instead of the source checkout the demo
    runs its tools from)."""
    if not osp.isfile(osp.join(root, 'tools', 'train.py')):
        raise RuntimeError(
            f'{root} has no tools/train.py: the demo runs the tools of the '
            'source checkout; install s4m-mm from it with `pip install -e .`')


def run_command(cmd: List[str]) -> None:
    """Print ``cmd`` and run it in :data:`ROOT`; a non-zero exit raises
    ``subprocess.CalledProcessError``."""
    print('$ ' + ' '.join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def prepare_data(data_root: str) -> None:
    """Build the demo data into ``data_root`` with
    ``tools/dataset_converters/prepare_nuclei_demo.py``, unless its
    ``summary.json`` says it is built."""
    if osp.isfile(osp.join(data_root, 'summary.json')):
        print(f'demo data: {data_root} (already built)')
        return
    run_command([
        sys.executable, 'tools/dataset_converters/prepare_nuclei_demo.py',
        '--out-dir', data_root
    ])


def data_options(data_root: str, semi: bool = False) -> List[str]:
    """``--cfg-options`` that point a demo config at ``data_root``: the
    train, val and test data roots (both train sources of a student,
    ``semi=True``) and the evaluators' ``annotations/val.json``."""
    roots = ['train_dataloader.dataset.datasets.0.data_root',
             'train_dataloader.dataset.datasets.1.data_root'] if semi else \
        ['train_dataloader.dataset.data_root']
    roots += ['val_dataloader.dataset.data_root',
              'test_dataloader.dataset.data_root']
    ann = f'{data_root}/annotations/val.json'
    return [f'{k}={data_root}/' for k in roots] + [
        f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}']


def last_checkpoint(stage_dir: str) -> str:
    """The checkpoint path mmengine wrote to ``stage_dir/last_checkpoint``."""
    with open(osp.join(stage_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def train(config: str,
          stage_dir: str,
          options: Sequence[str],
          extra: Sequence[str] = (),
          run_cmd: Optional[RunCmd] = None) -> Tuple[str, float]:
    """``tools/train.py config --work-dir stage_dir --cfg-options
    options... extra...``; ``run_cmd`` (default :func:`run_command`) runs
    it.

    Returns:
        tuple[str, float]: the last checkpoint and the wall seconds (one
        decimal).
    """
    start = time.time()
    (run_cmd or run_command)([
        sys.executable, 'tools/train.py', config, '--work-dir', stage_dir,
        '--cfg-options'
    ] + list(options) + list(extra))
    return last_checkpoint(stage_dir), round(time.time() - start, 1)


def evaluate(checkpoint: str,
             stage_dir: str,
             data_root: str,
             extra: Sequence[str] = (),
             run_cmd: Optional[RunCmd] = None,
             config: str = BASELINE) -> Dict[str, float]:
    """``tools/test.py`` of ``checkpoint`` with the plain detector's
    ``config`` (default the baseline's: every deployed model of the demo
    is a plain Mask2Former) on the val tiles of ``data_root``; ``extra``
    arguments go before ``--cfg-options``.

    Returns:
        dict: metric (``segm_mAP``, ...; the ``coco/`` prefix dropped) ->
        value.
    """
    metrics_file = osp.join(stage_dir, 'test_metrics.json')
    (run_cmd or run_command)([
        sys.executable, 'tools/test.py', config, checkpoint, '--work-dir',
        stage_dir, '--metrics-out', metrics_file
    ] + list(extra) + ['--cfg-options'] + data_options(data_root))
    with open(metrics_file) as f:
        return {k.split('/')[-1]: v for k, v in json.load(f).items()}
