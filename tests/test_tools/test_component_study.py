# Copyright (c) s4m-mm authors. All rights reserved.
"""The component study without training (s4m_mm.analysis.component_study
and its command line, tools/analysis/component_study.py): the k-fold
split, the statistics, AP pooled over folds, resumability (a fake runner
stands in for the tools the study launches) and refused arguments."""
import importlib.util
import json
import math
import os
import os.path as osp
import pickle
import shutil
import sys

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from s4m_mm.analysis.component_study import plan, report, runs, statistics
from s4m_mm.demo import logged_pseudo_label_quality
from s4m_mm.demo.nuclei_data import build_nuclei_dataset, fold_tiles
from s4m_mm.testing import get_repo_root

REPO = get_repo_root()


@pytest.fixture(scope='module')
def cli():
    """The command line, tools/analysis/component_study.py, loaded from its
    file (tools/ is no package)."""
    path = osp.join(REPO, 'tools', 'analysis', 'component_study.py')
    spec = importlib.util.spec_from_file_location('component_study', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------ the split


@pytest.mark.parametrize('num_folds', [4, 3, 16])
@pytest.mark.parametrize('seed', [0, 1])
def test_every_tile_is_val_exactly_once_a_seed(num_folds, seed):
    folds = [fold_tiles(16, num_folds, f, seed, num_labeled=3, num_dev=1)
             for f in range(num_folds)]
    vals = [t for parts in folds for t in parts['val']]
    assert sorted(vals) == list(range(16))  # once each, none missing
    sizes = [len(p['val']) for p in folds]
    assert max(sizes) - min(sizes) <= 1
    for parts in folds:
        tiles = [t for k in ('labeled', 'dev', 'unlabeled', 'val')
                 for t in parts[k]]
        assert sorted(tiles) == list(range(16))  # disjoint, all tiles
        assert len(parts['labeled']) == 3 and len(parts['dev']) == 1
        assert len(parts['unlabeled']) == 16 - 3 - 1 - len(parts['val'])


def test_split_is_seeded():
    assert fold_tiles(16, 4, 2, seed=5, num_dev=2) == \
        fold_tiles(16, 4, 2, seed=5, num_dev=2)
    assert [fold_tiles(16, 4, f, 0)['val'] for f in range(4)] != \
        [fold_tiles(16, 4, f, 1)['val'] for f in range(4)]
    # the demo's ratio outside the test fold: 3 labeled, the rest unlabeled
    parts = fold_tiles(16, 4, 0, seed=0)
    assert (len(parts['labeled']), len(parts['dev']),
            len(parts['unlabeled'])) == (3, 0, 9)


@pytest.mark.parametrize('kwargs', [
    dict(num_folds=4, fold=4), dict(num_folds=4, fold=-1),
    dict(num_folds=1, fold=0), dict(num_folds=4, fold=0, num_labeled=12),
    dict(num_folds=4, fold=0, num_labeled=9, num_dev=3)
])
def test_split_refuses_impossible_settings(kwargs):
    with pytest.raises(ValueError):
        fold_tiles(16, seed=0, **kwargs)


def test_fold_dataset_files(tmp_path):
    image = np.full((64, 64), 100, np.uint16)
    labels = np.zeros((64, 64), np.int32)
    for i, (y, x) in enumerate([(2, 2), (2, 40), (40, 2), (40, 40)], 1):
        labels[y:y + 10, x:x + 10] = i
        image[y:y + 10, x:x + 10] = 1000
    out = str(tmp_path / 'fold')
    summary = build_nuclei_dataset(image, labels, out, tile_size=32,
                                   num_labeled=1, num_folds=4, fold=2,
                                   num_dev=1, seed=3)
    parts = fold_tiles(4, 4, 2, 3, num_labeled=1, num_dev=1)
    ann = {}
    for name in ('labeled', 'dev', 'unlabeled', 'unlabeled_gt', 'val',
                 'all'):
        with open(osp.join(out, 'annotations', f'{name}.json')) as f:
            ann[name] = json.load(f)
    for name in ('labeled', 'dev', 'unlabeled', 'val'):
        assert [i['id'] - 1 for i in ann[name]['images']] == parts[name]
    assert ann['unlabeled']['annotations'] == []
    assert len(ann['all']['images']) == 4
    assert len(ann['all']['annotations']) == 4 == sum(
        summary['instances'].values())
    assert summary['folds'] == {'num_folds': 4, 'fold': 2}


# ------------------------------------------------------------ statistics


def test_mean_std_sem_by_hand():
    stats = statistics.mean_std_sem([0.1, 0.2, 0.4])
    mean = 0.7 / 3
    std = math.sqrt(((0.1 - mean)**2 + (0.2 - mean)**2 +
                     (0.4 - mean)**2) / 2)  # sample std, n - 1
    assert stats['n'] == 3
    assert stats['mean'] == pytest.approx(mean)
    assert stats['std'] == pytest.approx(std) == pytest.approx(0.152753, 1e-5)
    assert stats['sem'] == pytest.approx(std / math.sqrt(3))
    one = statistics.mean_std_sem([0.5])
    assert one['mean'] == 0.5 and one['std'] is None and one['sem'] is None


def square(size, y, x, side=6):
    m = np.zeros((size, size), np.uint8)
    m[y:y + side, x:x + side] = 1
    return m


def write_gt(path, size=16):
    """Two images, one square nucleus each (image 1 at (2, 2), image 2 at
    (8, 8))."""
    images, anns = [], []
    for k, (y, x) in enumerate([(2, 2), (8, 8)], 1):
        rle = mask_utils.encode(np.asfortranarray(square(size, y, x)))
        rle['counts'] = rle['counts'].decode()
        images.append(dict(id=k, file_name=f'{k}.png', height=size,
                           width=size))
        anns.append(dict(id=k, image_id=k, category_id=1, segmentation=rle,
                         area=36, bbox=[x, y, 6, 6], iscrowd=0))
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=anns,
                       categories=[dict(id=1, name='nucleus')]), f)


def write_predictions(path, img_id, yx, size=16, score=0.9):
    """tools/test.py --out's format: one prediction of a square at ``yx``
    for image ``img_id``."""
    y, x = yx
    rle = mask_utils.encode(np.asfortranarray(square(size, y, x)))
    sample = dict(img_id=img_id, ori_shape=(size, size), pred_instances=dict(
        bboxes=torch.tensor([[x, y, x + 6, y + 6]], dtype=torch.float32),
        scores=torch.tensor([score]), labels=torch.tensor([0]), masks=[rle]))
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        pickle.dump([sample], f)


def test_pooled_ap_is_one_evaluation_of_all_folds(tmp_path):
    gt = str(tmp_path / 'all.json')
    write_gt(gt)
    right = [str(tmp_path / 'a.pkl'), str(tmp_path / 'b.pkl')]
    write_predictions(right[0], 1, (2, 2))
    write_predictions(right[1], 2, (8, 8))
    perfect = statistics.pooled_metrics(gt, right)
    assert perfect['segm_mAP'] == pytest.approx(1.0)
    assert perfect['bbox_mAP'] == pytest.approx(1.0)
    assert (perfect['num_images'], perfect['num_instances']) == (2, 2)
    # one fold alone: its own image only, not the other fold's missed GT
    assert statistics.pooled_metrics(gt, right[:1])['segm_mAP'] == \
        pytest.approx(1.0)
    # fold b misses its nucleus with a higher score than fold a's hit: in
    # one ranking of both folds the FP comes first, so precision is 1/2 up
    # to recall 1/2 and COCO's 101 recall points give 51 * 0.5 / 101
    # (mmdet rounds to 3 decimals); the mean of the two folds' APs would
    # be (1 + 0) / 2, and a hit ranked first would give 51 / 101.
    wrong = str(tmp_path / 'c.pkl')
    write_predictions(wrong, 2, (0, 9), score=0.95)
    pooled = statistics.pooled_metrics(gt, [right[0], wrong])
    assert pooled['segm_mAP'] == pytest.approx(51 * 0.5 / 101, abs=5e-4)
    assert pooled['bbox_mAP'] == pytest.approx(51 * 0.5 / 101, abs=5e-4)
    with pytest.raises(ValueError, match='predicted twice'):
        statistics.pooled_metrics(gt, [right[0], right[0]])


# ------------------------------------------ resumability, fake runner


class FakeTools:
    """Stands in for the subprocesses of the study: writes what each tool
    would (fold data, checkpoints, val curve, metrics, predictions) and
    records the command."""

    def __init__(self, gt_file):
        self.gt_file = gt_file
        self.calls = []

    @staticmethod
    def value(cmd, flag):
        return cmd[cmd.index(flag) + 1]

    def __call__(self, cmd):
        tool = osp.basename(cmd[1])
        self.calls.append((tool, cmd))
        if tool == 'prepare_nuclei_demo.py':
            root = self.value(cmd, '--out-dir')
            os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
            with open(self.gt_file) as f, \
                    open(osp.join(root, 'annotations', 'all.json'), 'w') as g:
                g.write(f.read())
            summary = dict(
                seed=int(self.value(cmd, '--seed')),
                folds=dict(num_folds=int(self.value(cmd, '--num-folds')),
                           fold=int(self.value(cmd, '--fold'))),
                tiles=dict(labeled=int(self.value(cmd, '--num-labeled')),
                           dev=int(self.value(cmd, '--num-dev'))))
            with open(osp.join(root, 'summary.json'), 'w') as f:
                json.dump(summary, f)
        elif tool == 'train.py':
            work = self.value(cmd, '--work-dir')
            for name in ('best_coco_segm_mAP_iter_4.pth', 'iter_6.pth'):
                open(osp.join(work, name), 'w').close()
            with open(osp.join(work, 'last_checkpoint'), 'w') as f:
                f.write(osp.join(work, 'iter_6.pth'))
            stamp = f'2026010{len(self.calls)}_000000'
            os.makedirs(osp.join(work, stamp, 'vis_data'), exist_ok=True)
            lines = [{'loss': 1.0, 'step': 1},
                     {'plq_teacher_iou': 0.2, 'plq_refined_iou': 0.4,
                      'step': 2},
                     {'coco/segm_mAP': 0.1, 'coco/bbox_mAP': 0.2, 'step': 2},
                     {'coco/segm_mAP': 0.3, 'coco/bbox_mAP': 0.2, 'step': 4},
                     {'coco/segm_mAP': 0.2, 'coco/bbox_mAP': 0.2, 'step': 6}]
            with open(osp.join(work, stamp, 'vis_data', 'scalars.json'),
                      'w') as f:
                f.write('\n'.join(json.dumps(x) for x in lines))
        elif tool == 's4m_to_mmdet.py':
            open(cmd[3], 'w').close()
        elif tool == 'test.py':
            work = self.value(cmd, '--work-dir')
            fold = int(osp.basename(osp.dirname(osp.dirname(
                osp.dirname(work))))[4:])
            os.makedirs(work, exist_ok=True)
            with open(self.value(cmd, '--metrics-out'), 'w') as f:
                json.dump({'coco/segm_mAP': 0.5, 'coco/segm_mAP_50': 0.6,
                           'coco/bbox_mAP': 0.4,
                           'coco/bbox_mAP_50': 0.7}, f)
            write_predictions(self.value(cmd, '--out'), fold + 1,
                              [(2, 2), (8, 8)][fold])
        else:
            raise AssertionError(f'unexpected command {cmd}')

    def tools(self):
        return [tool for tool, _ in self.calls]


def test_finished_runs_are_not_repeated(cli, tmp_path, capsys):
    gt = str(tmp_path / 'gt.json')
    write_gt(gt)
    work = str(tmp_path / 'study')
    argv = ['--work-dir', work, '--seeds', '0', '--folds', '2',
            '--rows', 'supervised', 'full', '--max-iters', '6',
            '--val-interval', '2']
    fake = FakeTools(gt)
    summary = cli.main(argv, run_cmd=fake)
    # sd_teacher joins for the student; each fold's data is built once
    assert fake.tools() == ['prepare_nuclei_demo.py', 'train.py', 'test.py',
                            'train.py', 'test.py', 'train.py',
                            's4m_to_mmdet.py', 'test.py'] * 2
    teacher = osp.join(work, 'fold0', 'seed0', 'sd_teacher',
                       'best_coco_segm_mAP_iter_4.pth')
    student_train = [c for t, c in fake.calls if t == 'train.py'][2]
    assert ('default_hooks.teacher_schedule.teacher_checkpoint='
            f'{teacher}') in student_train
    result = runs.read_json(osp.join(work, 'fold0', 'seed0', 'full',
                                      'result.json'))
    assert (result['best_iter'], result['stopped_iter']) == (4, 6)
    assert [p['segm_mAP'] for p in result['curve']] == [0.1, 0.3, 0.2]
    assert result['pseudo_labels']['refined']['iou'] == 0.4
    # the machine, whose bf16 kernels decide the demo SAM's precision
    assert result['machine']['cores'] == os.cpu_count()
    assert result['machine']['torch'] == torch.__version__
    assert result['machine']['native_bf16'] == bool(
        torch.ops.mkldnn._is_mkldnn_bf16_supported())
    # paths relative to the work dir
    assert result['predictions'] == osp.join('fold0', 'seed0', 'full',
                                             'test', 'predictions.pkl')
    agg = summary['aggregate']['full']
    assert agg['complete'] and agg['pooled_over_seeds']['segm_mAP'][
        'mean'] == pytest.approx(1.0)  # both folds' images, both right
    assert agg['per_fold_runs']['segm_mAP']['values'] == [0.5, 0.5]
    assert osp.isfile(osp.join(work, 'component_study.png'))
    # a finished run keeps the model it tested only
    for row, kept in (('supervised', 'best_coco_segm_mAP_iter_4.pth'),
                      ('sd_teacher', 'best_coco_segm_mAP_iter_4.pth'),
                      ('full', 'student_mask2former.pth')):
        folder = osp.join(work, 'fold1', 'seed0', row)
        assert [f for f in os.listdir(folder) if f.endswith('.pth')] == \
            [kept]

    # everything done: nothing runs again, even with other settings
    # (noted)
    again = FakeTools(gt)
    cli.main(argv, run_cmd=again)
    assert again.calls == []
    assert 'note: it ran with' not in capsys.readouterr().out
    cli.main(argv + ['--patience', '9'], run_cmd=again)
    assert again.calls == []
    assert "note: it ran with {'val_interval': 2, 'patience': 4" in \
        capsys.readouterr().out

    # trained but not evaluated: evaluated only (exported already)
    run = osp.join(work, 'fold1', 'seed0', 'full')
    os.remove(osp.join(run, 'result.json'))
    again = FakeTools(gt)
    cli.main(argv, run_cmd=again)
    assert again.tools() == ['test.py']

    # cut off in training: started again from scratch, or with --resume
    # continued from its last checkpoint
    for name in ('result.json', 'train.json'):
        os.remove(osp.join(run, name))
    open(osp.join(run, 'stale.log'), 'w').close()
    again = FakeTools(gt)
    cli.main(argv + ['--resume'], run_cmd=again)
    assert again.tools() == ['train.py', 's4m_to_mmdet.py', 'test.py']
    assert again.calls[0][1][-1] == '--resume'
    assert osp.isfile(osp.join(run, 'stale.log'))  # continued in place
    for name in ('result.json', 'train.json'):
        os.remove(osp.join(run, name))
    again = FakeTools(gt)
    cli.main(argv, run_cmd=again)
    assert again.tools() == ['train.py', 's4m_to_mmdet.py', 'test.py']
    assert '--resume' not in again.calls[0][1]
    assert not osp.exists(osp.join(run, 'stale.log'))  # from scratch
    assert 'restarting' in capsys.readouterr().out


#: what --summarize-only needs of a work dir copied to another machine
#: (each run's result.json, train.json and test predictions, each fold's
#: GT), without its models, logs and images
COMMITTED = ('result.json', 'train.json', 'predictions.pkl', 'all.json')


def test_copied_results_hold_on_another_machine(cli, tmp_path):
    gt = str(tmp_path / 'gt.json')
    write_gt(gt)
    work = str(tmp_path / 'here' / 'study')
    argv = ['--seeds', '0', '--folds', '2', '--rows', 'supervised', 'full',
            '--max-iters', '6', '--val-interval', '2']
    first = cli.main(['--work-dir', work] + argv, run_cmd=FakeTools(gt))
    # those files only, in another place; the original is gone
    there = str(tmp_path / 'there' / 'study')
    for folder, _, files in os.walk(work):
        for name in set(files) & set(COMMITTED):
            dst = osp.join(there, osp.relpath(folder, work))
            os.makedirs(dst, exist_ok=True)
            os.rename(osp.join(folder, name), osp.join(dst, name))
    shutil.rmtree(work)
    again = cli.main(['--work-dir', there, '--folds', '2',
                        '--summarize-only'])
    assert again['pooled'] == first['pooled']
    assert again['pooled']['full']['0']['segm_mAP'] == pytest.approx(1.0)
    # a student still to train there needs the teacher's checkpoint, which
    # is not committed: refused, naming it
    for name in ('result.json', 'train.json'):
        os.remove(osp.join(there, 'fold1', 'seed0', 'full', name))
    with pytest.raises(FileNotFoundError,
                       match=r'fold 1, seed 0 needs its teacher checkpoint '
                       r'.*fold1/seed0/sd_teacher/best_coco_segm_mAP_iter_4'
                       r'.*--retrain-teachers'):
        cli.main(['--work-dir', there] + argv, run_cmd=FakeTools(gt))

    # --retrain-teachers: a recorded teacher that is not reproduced is put
    # back and no student trains from the other model
    teacher_dir = osp.join(there, 'fold1', 'seed0', 'sd_teacher')
    recorded = runs.read_json(osp.join(teacher_dir, 'result.json'))
    planted = dict(recorded, curve=[dict(recorded['curve'][0],
                                         segm_mAP=0.9)] +
                   recorded['curve'][1:])
    runs.write_json(osp.join(teacher_dir, 'result.json'), planted)
    fake = FakeTools(gt)
    with pytest.raises(RuntimeError, match=r"differs from the recorded one "
                       r"in \['curve'\]"):
        cli.main(['--work-dir', there, '--retrain-teachers'] + argv,
                   run_cmd=fake)
    assert runs.read_json(osp.join(teacher_dir, 'result.json')) == planted
    assert 's4m_to_mmdet.py' not in fake.tools()
    assert not [f for f in os.listdir(teacher_dir) if f.endswith('.pth')]

    # a retraining that fails puts the record back as well
    class Broken(FakeTools):
        def __call__(self, cmd):
            if osp.basename(cmd[1]) == 'train.py':
                raise KeyboardInterrupt
            super().__call__(cmd)

    with pytest.raises(KeyboardInterrupt):
        cli.main(['--work-dir', there, '--retrain-teachers'] + argv,
                   run_cmd=Broken(gt))
    assert runs.read_json(osp.join(teacher_dir, 'result.json')) == planted
    assert runs.read_json(osp.join(teacher_dir, 'train.json'))
    # reproduced (the fake tools are deterministic): the students train
    runs.write_json(osp.join(teacher_dir, 'result.json'), recorded)
    fake = FakeTools(gt)
    cli.main(['--work-dir', there, '--retrain-teachers'] + argv,
               run_cmd=fake)
    assert fake.tools() == ['train.py', 'test.py', 'train.py',
                            's4m_to_mmdet.py', 'test.py']
    student = [c for t, c in fake.calls if t == 'train.py'][1]
    assert ('default_hooks.teacher_schedule.teacher_checkpoint='
            f'{teacher_dir}/best_coco_segm_mAP_iter_4.pth') in student
    # nothing is missing any more: nothing runs
    fake = FakeTools(gt)
    cli.main(['--work-dir', there, '--retrain-teachers'] + argv,
               run_cmd=fake)
    assert fake.calls == []


def test_other_split_settings_in_a_work_dir_are_refused(cli, tmp_path):
    gt = str(tmp_path / 'gt.json')
    write_gt(gt)
    work = str(tmp_path / 'study')
    argv = ['--work-dir', work, '--seeds', '0', '--folds', '2',
            '--fold-ids', '0', '--rows', 'supervised']
    cli.main(argv, run_cmd=FakeTools(gt))
    os.remove(osp.join(work, 'fold0', 'seed0', 'supervised', 'result.json'))
    with pytest.raises(RuntimeError, match='another --work-dir'):
        cli.main(argv + ['--num-dev', '1'], run_cmd=FakeTools(gt))


@pytest.mark.parametrize('argv, message', [
    (['--rows', 'supervised', 'no_sam'], "invalid choice: 'no_sam'"),
    (['--folds', '4', '--fold-ids', '0', '4'], '--fold-ids [4] out of range'),
    (['--folds', '1'], '--folds must be in [2, 16]'),
    (['--max-iters', 'teacher=5'], "unknown row 'teacher'"),
    (['--max-iters', '0'], 'N must be an integer >= 1'),
])
def test_bad_arguments_are_refused(cli, argv, message, capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(argv)
    assert message in capsys.readouterr().err


def test_rows_in_order_with_their_teacher(cli):
    args = cli.parse_args(['--rows', 'full', 'supervised', '--max-iters',
                             '50', 'full=7'])
    assert args.rows == ['supervised', 'sd_teacher', 'full']
    assert args.max_iters == dict(dict.fromkeys(plan.ROWS, 50), full=7)
    # the study imports s4m_mm.demo, not tools/run_demo.py off sys.path
    assert osp.join(REPO, 'tools') not in sys.path


# ------------------------------------- one seed per fold, paired rows


def test_one_seed_per_fold_pools_every_tile_once(cli, tmp_path):
    gt = str(tmp_path / 'gt.json')
    write_gt(gt)
    work = str(tmp_path / 'study')
    fake = FakeTools(gt)
    summary = cli.main(['--work-dir', work, '--folds', '2', '--split-seed',
                          '7', '--runs', '0:3', '1:5', '--rows',
                          'supervised', '--max-iters', '6'], run_cmd=fake)
    # both folds cut from the split of seed 7, each trained with its seed
    prepared = [c for t, c in fake.calls if t == 'prepare_nuclei_demo.py']
    assert [(FakeTools.value(c, '--fold'), FakeTools.value(c, '--seed'))
            for c in prepared] == [('0', '7'), ('1', '7')]
    trained = [c for t, c in fake.calls if t == 'train.py']
    assert ['randomness.seed=3' in c for c in trained] == [True, False]
    assert ['randomness.seed=5' in c for c in trained] == [False, True]
    assert osp.isdir(osp.join(work, 'fold1', 'seed5', 'supervised'))
    # one pool of the split: both folds' images, each predicted right
    assert list(summary['pooled']['supervised']) == ['7']
    pool = summary['pooled']['supervised']['7']
    assert (pool['folds'], pool['seeds']) == ([0, 1], [3, 5])
    assert pool['segm_mAP'] == pytest.approx(1.0)
    assert summary['aggregate']['supervised']['complete']


def test_runs_argument(cli, capsys):
    args = cli.parse_args(['--folds', '4', '--runs', '2:1', '0:0'])
    assert args.runs == [(2, 1), (0, 0)]  # in the order given
    crossed = cli.parse_args(['--folds', '2', '--seeds', '4', '5'])
    assert crossed.runs == [(0, 4), (1, 4), (0, 5), (1, 5)]
    for argv, message in ((['--runs', '4:0'], 'fold 4 out of range'),
                          (['--runs', '1-1'], 'expected FOLD:SEED'),
                          (['--runs', '1:x'], 'expected FOLD:SEED'),
                          (['--runs', '1:1', '1:1'], 'given twice'),
                          (['--runs', '0:0', '--seeds', '1'],
                           'without --seeds and --fold-ids'),
                          (['--runs', '0:0', '--fold-ids', '0'],
                           'without --seeds and --fold-ids')):
        with pytest.raises(SystemExit):
            cli.parse_args(argv)
        assert message in capsys.readouterr().err


def fake_result(row, fold, seed, segm, split_seed=None):
    return dict(row=row, fold=fold, seed=seed,
                split=dict(seed=seed if split_seed is None else split_seed),
                metrics=dict(segm_mAP=segm, segm_mAP_50=2 * segm,
                             bbox_mAP=0.0, bbox_mAP_50=0.0))


def test_pooling_groups():
    rotated = [fake_result('full', f, 10 + f, 0.1, split_seed=0)
               for f in range(3)]
    assert {k: [(x['fold'], x['seed']) for x in v]
            for k, v in statistics.pooling_groups(rotated).items()} == \
        {'0': [(0, 10), (1, 11), (2, 12)]}
    # a split whose folds have several seeds: pooled per seed
    crossed = [fake_result('full', f, s, 0.1, split_seed=0)
               for s in (1, 2) for f in range(2)]
    assert {k: [(x['fold'], x['seed']) for x in v]
            for k, v in statistics.pooling_groups(crossed).items()} == \
        {'0/1': [(0, 1), (1, 1)], '0/2': [(0, 2), (1, 2)]}
    # the default split (seeded by the training seed): one pool a seed
    default = [fake_result('full', f, s, 0.1) for s in (1, 2)
               for f in range(2)]
    assert sorted(statistics.pooling_groups(default)) == ['1', '2']


def test_paired_differences_by_hand():
    results = [
        fake_result('mean_teacher', 0, 0, 0.10),
        fake_result('full', 0, 0, 0.15),
        fake_result('mean_teacher', 1, 1, 0.20),
        fake_result('full', 1, 1, 0.22),
        fake_result('mean_teacher', 2, 2, 0.30),
        fake_result('full', 2, 2, 0.38),
        fake_result('full', 3, 3, 0.90),  # no mean teacher: not paired
        fake_result('supervised', 0, 0, 0.05),
    ]
    paired = statistics.paired_differences(results)
    assert list(paired) == ['full - mean_teacher']
    e = paired['full - mean_teacher']
    assert e['runs'] == [[0, 0], [1, 1], [2, 2]]
    d = [0.05, 0.02, 0.08]
    mean = 0.05
    std = math.sqrt(sum((x - mean)**2 for x in d) / 2)  # 0.03
    assert e['segm_mAP']['values'] == pytest.approx(d)
    assert e['segm_mAP']['mean'] == pytest.approx(mean)
    assert e['segm_mAP']['std'] == pytest.approx(std) == pytest.approx(0.03)
    assert e['segm_mAP']['sem'] == pytest.approx(0.03 / math.sqrt(3))
    assert e['segm_mAP_50']['mean'] == pytest.approx(0.1)


def test_each_run_printed_in_row_order(capsys):
    runs = [
        dict(fake_result('full', 1, 1, 0.25), best_iter=100, stopped_iter=300),
        dict(fake_result('supervised', 1, 1, 0.125), best_iter=250,
             stopped_iter=450),
        dict(fake_result('supervised', 0, 0, 0.5), best_iter=500,
             stopped_iter=700),
    ]
    report.print_runs(runs)
    lines = capsys.readouterr().out.splitlines()
    table = [line.split() for line in lines[lines.index(
        next(x for x in lines if x.startswith('---'))) + 1:]]
    # supervised before full (ROWS order), folds ascending within a row;
    # mask AP50 is twice the mask AP in fake_result, box APs are 0
    assert table == [
        ['supervised', '0', '0', '0.500', '1.000', '0.000', '0.000', '500',
         '700'],
        ['supervised', '1', '1', '0.125', '0.250', '0.000', '0.000', '250',
         '450'],
        ['full', '1', '1', '0.250', '0.500', '0.000', '0.000', '100', '300'],
    ]


def write_scalars(stage_dir, stamp, records):
    os.makedirs(osp.join(stage_dir, stamp, 'vis_data'))
    with open(osp.join(stage_dir, stamp, 'vis_data', 'scalars.json'),
              'w') as f:
        f.write('\n'.join(json.dumps(r) for r in records) + '\n')


def test_pseudo_label_quality_of_a_resumed_run(tmp_path):
    """A run cut off after step 30 and resumed from its checkpoint at 20:
    step 30 is logged again by the second process, whose values count."""
    stage = str(tmp_path / 'full')
    write_scalars(stage, '20260101_000000', [
        {'plq_teacher_iou': 0.2, 'plq_refined_iou': 0.4, 'step': 10},
        {'coco/segm_mAP': 0.1, 'step': 10},
        {'plq_teacher_iou': 0.4, 'plq_refined_iou': 0.6, 'step': 20},
        {'plq_teacher_iou': 0.9, 'plq_refined_iou': 0.9, 'step': 30}])
    write_scalars(stage, '20260102_000000', [
        {'plq_teacher_iou': 0.6, 'plq_refined_iou': 0.2, 'step': 30},
        {'plq_teacher_iou': 0.8, 'plq_refined_iou': 1.0, 'step': 40}])
    quality = logged_pseudo_label_quality
    whole = quality(stage, resumed=True)
    assert whole['teacher']['iou'] == pytest.approx((.2 + .4 + .6 + .8) / 4)
    assert whole['refined']['iou'] == pytest.approx((.4 + .6 + .2 + 1.) / 4)
    assert whole['measured_iterations'] == 4
    # not resumed: the last run only (an earlier one was another training)
    last = quality(stage)
    assert last['teacher']['iou'] == pytest.approx(0.7)
    assert last['measured_iterations'] == 2
    write_scalars(stage, '20260103_000000', [{'plq_arp_iou': 0.5}])
    with pytest.raises(ValueError, match='20260103_000000.*no "step"'):
        quality(stage, resumed=True)


def test_times_only_of_runs_trained_in_one_process(tmp_path):
    def run(fold, seconds, **extra):
        return dict(fake_result('supervised', fold, fold, 0.1), best_iter=50,
                    stopped_iter=250, train_seconds=seconds,
                    train_cpu_seconds=2 * seconds, predictions='missing.pkl',
                    data_root='missing', **extra)

    summary = statistics.summarize(
        [run(0, 100.0), run(1, 300.0, resumed=False),
         run(2, 30.0, resumed=True)], 4, str(tmp_path))
    agg = summary['aggregate']['supervised']
    assert agg['train_seconds']['values'] == [100.0, 300.0]
    assert agg['train_cpu_seconds']['mean'] == pytest.approx(400.0)
    assert agg['stopped_iter']['n'] == 3  # iterations: every run


def test_summary_pools_in_fold_order_and_averages_pseudo_labels(tmp_path):
    def run(row, fold, seed, quality=None):
        x = dict(fake_result(row, fold, seed, 0.1, split_seed=7),
                 best_iter=50, stopped_iter=250, train_seconds=1.0,
                 train_cpu_seconds=2.0, predictions='missing.pkl',
                 data_root='missing')
        if quality is not None:
            x['pseudo_labels'] = dict(teacher=dict(iou=quality),
                                      refined=dict(iou=quality + 0.25))
        return x

    # given fold 1 first, and its seed below fold 0's: pooled by fold
    summary = statistics.summarize(
        [run('supervised', 1, 3), run('supervised', 0, 5),
         run('full', 1, 3, quality=0.5), run('full', 0, 5, quality=0.25)],
        2, str(tmp_path))
    assert summary['pooled']['supervised'] == {
        '7': dict(folds=[0, 1], seeds=[5, 3])}  # no predictions: no AP
    agg = summary['aggregate']
    assert 'pseudo_labels' not in agg['supervised']
    quality = agg['full']['pseudo_labels']
    assert quality['teacher']['iou']['values'] == [0.5, 0.25]
    assert quality['refined']['iou']['mean'] == pytest.approx(0.625)
    assert quality['arp']['iou']['n'] == 0  # not logged
    assert statistics.mean_std_sem([]) == dict(n=0, mean=None, std=None,
                                               sem=None, values=[])


# ------------------------------- the studies of Mask R-CNN and RTMDet-Ins

#: --student -> (its configs' name tag, how the study's README names it)
DETECTOR_STUDENTS = dict(mask_rcnn=('mask-rcnn', 'Mask R-CNN'),
                         rtmdet_ins=('rtmdet-ins', 'RTMDet-Ins'))


@pytest.mark.parametrize('student', sorted(DETECTOR_STUDENTS))
def test_a_detector_study_learns_from_its_supervised_row(
        cli, tmp_path, student):
    tag, name = DETECTOR_STUDENTS[student]
    gt = str(tmp_path / 'gt.json')
    write_gt(gt)
    work = str(tmp_path / 'study')
    fake = FakeTools(gt)
    summary = cli.main(['--student', student, '--work-dir', work,
                        '--folds', '2', '--runs', '0:0', '--rows', 'full',
                        'mean_teacher', '--max-iters', '6'], run_cmd=fake)
    # supervised joins as the students' teacher: no sd_teacher row
    assert fake.tools() == ['prepare_nuclei_demo.py', 'train.py', 'test.py',
                            'train.py', 's4m_to_mmdet.py', 'test.py',
                            'train.py', 's4m_to_mmdet.py', 'test.py']
    trained = [c[2] for t, c in fake.calls if t == 'train.py']
    plain = f'configs/s4m/demo/{tag}_effl0_nuclei_sup.py'
    assert trained == [
        plain,
        f'configs/s4m/demo/components/s4m-mean-teacher_{tag}_effl0_nuclei.py',
        f'configs/s4m/demo/components/s4m-full_{tag}_effl0_nuclei.py']
    teacher = osp.join(work, 'fold0', 'seed0', 'supervised',
                       'best_coco_segm_mAP_iter_4.pth')
    for cmd in [c for t, c in fake.calls if t == 'train.py'][1:]:
        assert ('default_hooks.teacher_schedule.teacher_checkpoint='
                f'{teacher}') in cmd
    # every model is tested as the plain detector
    assert {c[2] for t, c in fake.calls if t == 'test.py'} == {plain}
    assert {x['student'] for x in summary['runs']} == {student}
    # the students are compared with their teacher, the supervised row
    assert set(summary['paired']) == {'full - mean_teacher',
                                      'mean_teacher - supervised',
                                      'full - supervised'}
    readme = open(osp.join(work, 'README.md')).read()
    assert f"- student: the demo's {name} (stage 1: `supervised`" in readme


def test_a_mask_rcnn_study_has_no_sd_teacher_row(cli, capsys):
    args = cli.parse_args(['--student', 'mask_rcnn'])
    assert args.rows == ['supervised', 'mean_teacher', 'refine_only',
                         'arp_unrefined', 'full']
    with pytest.raises(SystemExit):
        cli.parse_args(['--student', 'mask_rcnn', '--rows', 'sd_teacher'])
    assert "--rows ['sd_teacher']: no such row for --student mask_rcnn" in \
        capsys.readouterr().err


def test_contrasts_of_a_supervised_teacher():
    assert statistics.contrasts('sd_teacher') == list(statistics.CONTRASTS)
    assert statistics.contrasts('supervised') == [
        ('refine_only', 'mean_teacher'), ('arp_unrefined', 'mean_teacher'),
        ('full', 'mean_teacher'), ('full', 'refine_only'),
        ('full', 'arp_unrefined'), ('mean_teacher', 'supervised'),
        ('full', 'supervised')]
    with pytest.raises(ValueError, match='mix student kinds'):
        statistics.study_teacher([dict(student='mask_rcnn'), dict()])
