# Copyright (c) s4m-mm authors. All rights reserved.
"""A few iterations of the demo baseline through tools/train.py, its
evaluation through tools/test.py, and the same config under mmdet's own
tools/train.py."""
import glob
import json
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from s4m_mm.testing import write_synthetic_coco

DEMO = 'configs/s4m/demo/mask2former_effl0_nuclei_sup.py'
pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def tiny_nuclei(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('nuclei'))
    write_synthetic_coco(
        root, ann_name='labeled.json', num_images=4, size=(64, 64),
        classes=('nucleus', ), seed=1)
    shutil.copy(
        osp.join(root, 'annotations/labeled.json'),
        osp.join(root, 'annotations/val.json'))
    return root


def options(root, iters=2):
    return [
        f'train_dataloader.dataset.data_root={root}/',
        f'val_dataloader.dataset.data_root={root}/',
        f'test_dataloader.dataset.data_root={root}/',
        f'val_evaluator.ann_file={root}/annotations/val.json',
        f'test_evaluator.ann_file={root}/annotations/val.json',
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
        f'default_hooks.checkpoint.interval={iters}',
        'default_hooks.logger.interval=1'
    ]


def coco_stats(gt_file, results, iou_type):
    """pycocotools' COCOeval of the predictions ``tools/test.py --out``
    dumped, as mmdet's CocoMetric sets it up (up to 100 / 300 / 1000
    detections an image)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    gt = COCO(gt_file)
    (cat_id, ) = gt.getCatIds()  # one class: label 0
    dets = []
    for result in results:
        pred = result['pred_instances']
        for k in range(len(pred['scores'])):
            assert int(pred['labels'][k]) == 0
            det = dict(image_id=result['img_id'], category_id=cat_id,
                       score=float(pred['scores'][k]))
            if iou_type == 'bbox':
                x1, y1, x2, y2 = pred['bboxes'][k].tolist()
                det['bbox'] = [x1, y1, x2 - x1, y2 - y1]
            else:
                rle = dict(pred['masks'][k])
                if isinstance(rle['counts'], bytes):
                    rle['counts'] = rle['counts'].decode()
                det['segmentation'] = rle
            dets.append(det)
    evaluator = COCOeval(gt, gt.loadRes(dets), iou_type)
    evaluator.params.maxDets = [100, 300, 1000]
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return evaluator.stats


def run(args, cwd):
    result = subprocess.run([sys.executable] + args, cwd=cwd,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + \
        result.stderr[-3000:]
    return result


def test_train_then_test(tiny_nuclei, tmp_path, repo_root):
    work = str(tmp_path / 'work')
    run(['tools/train.py', DEMO, '--work-dir', work, '--cfg-options'] +
        options(tiny_nuclei), repo_root)
    ckpt = osp.join(work, 'iter_2.pth')
    assert osp.isfile(ckpt)
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('iter_2.pth')

    metrics_file = str(tmp_path / 'metrics.json')
    results_file = str(tmp_path / 'results.pkl')
    run(['tools/test.py', DEMO, ckpt, '--work-dir', work, '--metrics-out',
         metrics_file, '--out', results_file, '--show-dir', 'vis',
         '--cfg-options'] + options(tiny_nuclei), repo_root)
    with open(metrics_file) as f:
        metrics = json.load(f)
    # the metrics are those of pycocotools on the dumped predictions
    import pickle
    with open(results_file, 'rb') as f:
        results = pickle.load(f)
    assert sorted(r['img_id'] for r in results) == [1, 2, 3, 4]
    gt_file = osp.join(tiny_nuclei, 'annotations/val.json')
    segm = coco_stats(gt_file, results, 'segm')
    bbox = coco_stats(gt_file, results, 'bbox')
    for key, value in (('coco/segm_mAP', segm[0]),
                       ('coco/segm_mAP_50', segm[1]),
                       ('coco/bbox_mAP', bbox[0])):
        assert metrics[key] == round(value, 3), key
    drawn = glob.glob(osp.join(work, '*', 'vis', '*.png'))
    assert len(drawn) == 4


def test_resume_continues_from_the_last_checkpoint(tiny_nuclei, tmp_path,
                                                   repo_root):
    work = str(tmp_path / 'work')
    run(['tools/train.py', DEMO, '--work-dir', work, '--cfg-options'] +
        options(tiny_nuclei, iters=1), repo_root)
    result = run(['tools/train.py', DEMO, '--work-dir', work, '--resume',
                  '--cfg-options'] + options(tiny_nuclei, iters=2),
                 repo_root)
    log = result.stdout + result.stderr
    assert 'resumed epoch: 0, iter: 1' in log
    assert osp.isfile(osp.join(work, 'iter_2.pth'))


def test_demo_config_runs_under_mmdets_own_train_py(tiny_nuclei, tmp_path,
                                                    repo_root):
    import mmdet
    mmdet_train = osp.join(osp.dirname(mmdet.__file__), '.mim/tools/train.py')
    work = str(tmp_path / 'work')
    run([mmdet_train, osp.join(repo_root, DEMO), '--work-dir', work,
         '--cfg-options'] + options(tiny_nuclei, iters=1), repo_root)
    assert osp.isfile(osp.join(work, 'iter_1.pth'))


def test_missing_data_root_fails_clearly(tmp_path, repo_root):
    result = subprocess.run(
        [sys.executable, 'tools/train.py', DEMO, '--work-dir',
         str(tmp_path / 'w'), '--cfg-options',
         f'train_dataloader.dataset.data_root={tmp_path}/nothing/'],
        cwd=repo_root, capture_output=True, text=True)
    assert result.returncode != 0
    assert f'{tmp_path}/nothing/annotations/labeled.json' in result.stderr
    assert 'prepare_nuclei_demo.py' in result.stderr


def test_sd_teacher_trains_and_its_checkpoint_tests_as_plain_mask2former(
        tiny_nuclei, tmp_path, repo_root):
    teacher = 'configs/s4m/demo/s4m-teacher_effl0_nuclei.py'
    work = str(tmp_path / 'teacher')
    result = run(['tools/train.py', teacher, '--work-dir', work,
                  '--cfg-options', 'model.panoptic_head.num_sd_points=4'] +
                 options(tiny_nuclei, iters=1), repo_root)
    assert 'loss_sd' in result.stdout + result.stderr
    ckpt = osp.join(work, 'iter_1.pth')
    import torch
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    assert not any(k.startswith('sam.') for k in state['state_dict'])
    metrics_file = str(tmp_path / 'teacher_metrics.json')
    results_file = str(tmp_path / 'teacher_results.pkl')
    run(['tools/test.py', DEMO, ckpt, '--work-dir', work, '--metrics-out',
         metrics_file, '--out', results_file, '--cfg-options'] +
        options(tiny_nuclei), repo_root)
    import pickle
    with open(metrics_file) as f:
        metrics = json.load(f)
    with open(results_file, 'rb') as f:
        results = pickle.load(f)
    segm = coco_stats(osp.join(tiny_nuclei, 'annotations/val.json'),
                      results, 'segm')
    assert metrics['coco/segm_mAP'] == round(segm[0], 3)


def test_dist_train_with_two_cpu_processes(tiny_nuclei, tmp_path,
                                           repo_root, free_port):
    import os
    work = str(tmp_path / 'dist')
    env = dict(os.environ,
               PATH=osp.dirname(sys.executable) + os.pathsep +
               os.environ.get('PATH', ''),
               PORT=str(free_port))
    result = subprocess.run(
        ['bash', 'tools/dist_train.sh', DEMO, '2', '--work-dir', work,
         '--cfg-options'] + options(tiny_nuclei, iters=2),
        cwd=repo_root, capture_output=True, text=True, env=env)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert 'Distributed training: True' in log
    assert 'device_ids=None' in log  # CPU DDP
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
