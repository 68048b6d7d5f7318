# Copyright (c) s4m-mm authors. All rights reserved.
"""A few iterations of the whole S4M stage-2 loop (teacher, SAM refinement,
ARP, student) through tools/train.py on the synthetic fixture."""
import json
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet.registry import MODELS
from s4m_mm.testing import cfg_option_args, tiny_sam2_cfg, tiny_sam_cfg

STUDENT = 'configs/s4m/demo/s4m-student_effl0_nuclei.py'
BASELINE = 'configs/s4m/demo/mask2former_effl0_nuclei_sup.py'
pytestmark = pytest.mark.slow


#: tiny random SAMs for the refiner, as --cfg-options
TINY_SAM1 = cfg_option_args(tiny_sam_cfg(), 'model.refiner.sam')
TINY_SAM2 = cfg_option_args(tiny_sam2_cfg(), 'model.refiner.sam')


def options(root, ckpt, iters, sam=TINY_SAM1):
    return [
        f'train_dataloader.dataset.datasets.0.data_root={root}/',
        f'train_dataloader.dataset.datasets.1.data_root={root}/',
        f'val_dataloader.dataset.data_root={root}/',
        f'test_dataloader.dataset.data_root={root}/',
        f'val_evaluator.ann_file={root}/annotations/val.json',
        f'test_evaluator.ann_file={root}/annotations/val.json',
    ] + sam + [
        'model.semi_train_cfg.score_thr=0.0',  # random teacher: keep some
        'model.unsup_batch_augments.arp.min_area=0',
        f'default_hooks.teacher_schedule.teacher_checkpoint={ckpt}',
        'default_hooks.teacher_schedule.burn_in=2',
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
        f'default_hooks.checkpoint.interval={iters}',
        'default_hooks.logger.interval=1', 'randomness.seed=0'
    ]


def logged_values(log, key):
    """The values of ``key`` in the training log lines, in order."""
    return [float(v) for v in re.findall(rf'\b{key}: ([-0-9.e]+)', log)]


def test_student_loop_runs_refines_mixes_and_saves_no_sam(
        semi_data, confident_teacher, tmp_path, repo_root):
    root, _ = semi_data
    ckpt = confident_teacher
    work = str(tmp_path / 'student')
    # the paper configs' validation of both models (the demo validates the
    # student only)
    result = subprocess.run(
        [sys.executable, 'tools/train.py', STUDENT, '--work-dir', work,
         '--cfg-options'] + options(root, ckpt, 3) +
        ['val_cfg.type=TeacherStudentValLoop'],
        cwd=repo_root, capture_output=True, text=True)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    # the teacher came from the checkpoint named on the command line by
    # the hook's name (default_hooks.teacher_schedule.teacher_checkpoint)
    assert f'teacher loaded from {ckpt}' in log
    for key in ('sup_loss_mask', 'unsup_loss_mask', 'refine_instances',
                'refine_sam_pred_iou',
                'burn-in over after 2 iterations', 'teacher/coco/segm_mAP',
                'student/coco/segm_mAP'):
        assert key in log, key
    assert 'seed: 0' in log  # the same draws at every run
    # every iteration had pseudo-instances to refine and learn from
    refined = logged_values(log, 'refine_instances')
    assert len(refined) == 3 and min(refined) > 0, refined
    assert len(logged_values(log, 'unsup_loss_mask')) == 3
    state = torch.load(osp.join(work, 'iter_3.pth'), map_location='cpu',
                       weights_only=False)['state_dict']
    assert any(k.startswith('teacher.') for k in state)
    assert any(k.startswith('student.') for k in state)
    assert not any('sam' in k.split('.') for k in state)
    assert not any(k.startswith('refiner.') for k in state)

    # the exported student is a plain Mask2Former for stock mmdet
    exported = str(tmp_path / 'student_mask2former.pth')
    subprocess.run([
        sys.executable, 'tools/model_converters/s4m_to_mmdet.py',
        osp.join(work, 'iter_3.pth'), exported
    ], cwd=repo_root, check=True, capture_output=True)
    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(repo_root, BASELINE))
    cfg.model.backbone.checkpoint = None
    stock = MODELS.build(cfg.model)
    plain = torch.load(exported, map_location='cpu')['state_dict']
    stock.load_state_dict(plain, strict=True)
    for k, v in stock.state_dict().items():
        assert torch.equal(v, state['student.' + k])


def test_student_config_runs_under_mmdets_own_train_py(
        semi_data, confident_teacher, tmp_path, repo_root):
    """mmdet's own tools/train.py, with SAM 2 refining the pseudo-labels
    of a teacher that is sure of every query."""
    import mmdet
    root, _ = semi_data
    ckpt = confident_teacher
    mmdet_train = osp.join(osp.dirname(mmdet.__file__), '.mim/tools/train.py')
    work = str(tmp_path / 'mmdet_student')
    result = subprocess.run(
        [sys.executable, mmdet_train, osp.join(repo_root, STUDENT),
         '--work-dir', work, '--cfg-options'] +
        options(root, ckpt, 1, sam=TINY_SAM2),
        cwd=repo_root, capture_output=True, text=True)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert osp.isfile(osp.join(work, 'iter_1.pth'))
    # the pseudo-instances went through SAM 2 (the demo's agreement gate
    # may keep the teacher's masks: SAM 2's weights are random)
    refined = re.search(r'refine_instances: (\d+)', log)
    assert refined and int(refined.group(1)) > 0, log[-4000:]
    assert re.search(r'refine_sam_pred_iou: 0\.\d*[1-9]', log), log[-4000:]


def test_pseudo_label_quality_tool(semi_data, confident_teacher, tmp_path,
                                   repo_root):
    root, _ = semi_data
    gt_file = osp.join(root, 'annotations/val.json')
    out = str(tmp_path / 'quality.json')
    result = subprocess.run(
        [sys.executable, 'tools/analysis/pseudo_label_quality.py', STUDENT,
         confident_teacher, '--gt-ann', gt_file, '--out', out, '--seed', '0',
         '--cfg-options', f'val_dataloader.dataset.data_root={root}/'] +
        TINY_SAM1,
        cwd=repo_root, capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    with open(out) as f:
        summary = json.load(f)
    with open(gt_file) as f:
        gt = json.load(f)
    assert summary['images'] == len(gt['images']) == 6
    assert summary['refiner'] == dict(prompt='box', num_points=3,
                                      sam_type='vit_b',
                                      gate=dict(min_agreement=0.5))
    for key in ('teacher', 'refined'):
        q = summary[key]
        assert q['num_gt'] == len(gt['annotations'])
        assert q['num_pseudo'] > 0
        # precision and recall count the same one-to-one matches
        matches = q['precision'] * q['num_pseudo']
        assert matches == pytest.approx(round(matches))
        assert q['recall'] * q['num_gt'] == pytest.approx(matches)
    # refinement replaces masks, never the set of pseudo-instances
    assert summary['teacher']['num_pseudo'] == \
        summary['refined']['num_pseudo']


def first_batch_pseudo_instances(repo_root, options, ckpt):
    """Pseudo-instances the teacher of ``ckpt`` selects on the first
    unlabeled batch of the config's train loader (seed 0), in-process."""
    from mmengine.config import DictAction
    from mmengine.runner import Runner, set_random_seed

    from s4m_mm.models.utils import load_teacher_weights
    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(repo_root, STUDENT))
    cfg.merge_from_dict({
        key: DictAction._parse_iterable(value)
        for key, value in (o.split('=', 1) for o in options)
    })
    cfg.model.refiner = None  # the selection comes before SAM
    set_random_seed(0)  # as the benchmark: the pipeline's flips
    model = MODELS.build(cfg.model)
    load_teacher_weights(model.teacher, ckpt)
    data = next(iter(Runner.build_dataloader(cfg.train_dataloader, seed=0)))
    data = model.data_preprocessor(data, True)
    selected = model.select_teacher_instances(
        data['inputs']['unsup_teacher'],
        data['data_samples']['unsup_teacher'])
    return sum(len(inst) for inst in selected)


def test_iteration_benchmark_times_every_part(semi_data, confident_teacher,
                                              tmp_path, repo_root):
    root, _ = semi_data
    # a teacher whose queries all say "nucleus": pseudo-instances to refine
    ckpt = confident_teacher
    out = str(tmp_path / 'bench.json')
    tiny = [o for o in options(root, ckpt, 1)
            if o.startswith(('train_dataloader', 'model.'))]
    result = subprocess.run(
        [sys.executable, 'tools/analysis/benchmark_iteration.py', STUDENT,
         '--teacher-checkpoint', ckpt, '--iters', '1', '--warmup', '0',
         '--out', out, '--cfg-options'] + tiny,
        cwd=repo_root, capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert 'S4M / mean teacher' in result.stdout
    with open(out) as f:
        report = json.load(f)
    s4m, mean_teacher = report['s4m'], report['mean_teacher']
    sam = dict(s4m['sam'])
    # the demo's refiner runs in the source frame: the batch's unlabeled
    # tiles were encoded into its store once
    assert sam.pop('frame') == 'source'
    store = sam.pop('store')
    assert store['misses'] > 0 and store['memory_hits'] > 0
    assert store['disk_hits'] == store['writes'] == 0  # memory only
    # the demo's 'auto': bf16 only where oneDNN has bf16 kernels
    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    # and its decoder_dtype='auto': a bf16 copy of the decoder there too
    assert sam == dict(sam_type='vit_b', weights='random', autocast='auto',
                       autocast_on_device='bfloat16' if native else None,
                       decoder_dtype='auto',
                       decoder_dtype_on_device='bfloat16' if native else None,
                       embed_cache_size=0)
    # the teacher's selection on the first unlabeled batch, counted here
    expected = first_batch_pseudo_instances(repo_root, tiny, ckpt)
    assert expected > 0
    assert s4m['pseudo_instances_per_batch'] == expected
    assert mean_teacher['pseudo_instances_per_batch'] == expected
    # the parts each method times (an untimed part reads 0)
    timed = {m: {k for k, v in r['parts_s'].items() if v != 0}
             for m, r in report.items() if m in ('s4m', 'mean_teacher')}
    assert timed == dict(
        s4m={'data', 'teacher', 'sam_encoder', 'sam_decoder', 'arp',
             'strong_aug', 'student', 'ema'},
        mean_teacher={'data', 'teacher', 'strong_aug', 'student', 'ema'})
    assert 'sam' not in mean_teacher
    assert report['s4m_over_mean_teacher'] == pytest.approx(
        s4m['step_s'] / mean_teacher['step_s'])
    refinement = s4m['refinement']
    # one batch: the median of the per-batch ratios is its ratio
    assert refinement['batches'] == 1
    assert refinement['per_image_over_batched'] == pytest.approx(
        refinement['per_image_s'] / refinement['batched_s'])
    assert refinement['batched_not_slower'] == int(
        refinement['batched_s'] <= refinement['per_image_s'])
    # SAM 1's decoder: also timed through segment_anything's own forward
    assert refinement['repeated_over_shared'] == pytest.approx(
        refinement['repeated_decoder_s'] / refinement['batched_s'])
    # the peak resident memory holds at least teacher and student (float32
    # weights of the checkpoint, twice), in MiB
    state = torch.load(ckpt, map_location='cpu')['state_dict']
    weights_mb = 2 * sum(v.numel() * v.element_size()
                         for v in state.values()) / 2**20
    for method in (s4m, mean_teacher):
        assert method['peak_memory_mb'] > weights_mb
        assert method['sum_of_parts_s'] == pytest.approx(
            sum(method['parts_s'].values()))
