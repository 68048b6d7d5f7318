# Copyright (c) s4m-mm authors. All rights reserved.
"""The README's "Train on your own data", as a user outside this repository
does it: configs in their own folder inheriting the installed package's
custom template (``s4m_mm::``), a labeled json and a folder of unlabeled
images; stage 1 with mmdet's own tools/train.py, stage 2 with this
repository's, the student exported and run by mmdet's DetInferencer."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.slow

#: a small Mask2Former and SD for 2 CPU iterations
TINY = '''
model = dict({detector}
    panoptic_head=dict(
        num_queries=10,
        pixel_decoder=dict(encoder=dict(num_layers=1)),
        transformer_decoder=dict(num_layers=1){sd}),
    train_cfg=dict(num_points=256),
    test_cfg=dict(max_per_image=10)){close}
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(checkpoint=dict(interval=2))
randomness = dict(seed=0)
'''
LOADERS = ''.join(
    f'{name}_dataloader = dict(num_workers=0, persistent_workers=False)\n'
    for name in ('train', 'val', 'test'))


def write_user_configs(folder, settings, teacher_ckpt):
    with open(osp.join(folder, 'my_settings.py'), 'w') as f:
        f.write(f'custom_settings = {settings!r}\n')
    with open(osp.join(folder, 'teacher.py'), 'w') as f:
        f.write("_base_ = ['s4m_mm::s4m/custom/s4m-teacher_effl0_custom.py',"
                " './my_settings.py']\n" + TINY.format(
                    detector='', sd=', num_sd_points=8', close='') +
                LOADERS)
    with open(osp.join(folder, 'student.py'), 'w') as f:
        f.write("_base_ = ['s4m_mm::s4m/custom/s4m-student_effl0_custom.py',"
                " './my_settings.py']\n"
                f'custom_settings = dict(teacher_checkpoint={teacher_ckpt!r})'
                '\n' + TINY.format(detector='detector=dict(', sd='',
                                   close=')') + LOADERS +
                "model.update(semi_train_cfg=dict(score_thr=0.0),\n"
                "             unsup_batch_augments=dict(arp=dict(min_area=0)))"
                "\n"
                "default_hooks.update(teacher_schedule=dict(burn_in=1))\n")


def run(args, cwd):
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    result = subprocess.run([sys.executable] + args, cwd=cwd, env=env,
                            capture_output=True, text=True)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    return log


def test_own_data_from_outside_the_repository(own_data, tmp_path, repo_root):
    import mmdet
    user = str(tmp_path / 'my_project')
    os.makedirs(user)
    work = osp.join(user, 'work_dirs')
    teacher_ckpt = osp.join(work, 'teacher', 'iter_2.pth')
    write_user_configs(user, own_data, teacher_ckpt)

    mmdet_train = osp.join(osp.dirname(mmdet.__file__), '.mim/tools/train.py')
    log = run([mmdet_train, 'teacher.py', '--work-dir',
               osp.join(work, 'teacher')], user)
    assert 'loss_sd' in log and 'coco/segm_mAP' in log
    # the work directory keeps the config with the settings filled in
    with open(osp.join(work, 'teacher', 'teacher.py')) as f:
        dumped = f.read()
    assert '${' not in dumped and 'num_things_classes=2' in dumped

    log = run([osp.join(repo_root, 'tools/train.py'), 'student.py',
               '--work-dir', osp.join(work, 'student')], user)
    assert 'teacher loaded from' in log and 'unsup_loss_mask' in log
    assert 'student/coco/segm_mAP' in log

    export = osp.join(user, 'export', 'student.pth')
    run([osp.join(repo_root, 'tools/model_converters/s4m_to_mmdet.py'),
         osp.join(work, 'student', 'iter_2.pth'), export, '--config',
         'student.py'], user)
    assert osp.isfile(osp.join(user, 'export', 'student.py'))

    # mmdet's DetInferencer on the unlabeled folder: pictures and
    # predictions, the classes of the settings
    out_dir = osp.join(user, 'inference')
    script = (
        'from mmdet.apis import DetInferencer\n'
        "inferencer = DetInferencer(model='export/student.py', "
        "weights='export/student.pth', device='cpu')\n"
        f"inferencer({osp.join(own_data['data_root'], 'unlabeled')!r}, "
        f"out_dir={out_dir!r}, no_save_pred=False)\n"
        "print(inferencer.model.dataset_meta['classes'])\n")
    log = run(['-c', script], user)
    assert "('disk', 'blob')" in log
    images = sorted(os.listdir(osp.join(own_data['data_root'], 'unlabeled')))
    assert sorted(os.listdir(osp.join(out_dir, 'vis'))) == images
    preds = sorted(os.listdir(osp.join(out_dir, 'preds')))
    assert preds == [osp.splitext(n)[0] + '.json' for n in images]
    with open(osp.join(out_dir, 'preds', preds[0])) as f:
        pred = json.load(f)
    assert len(pred['labels']) == len(pred['scores']) == len(pred['masks'])
    assert 0 < len(pred['scores']) <= 10  # max_per_image of the export
    assert set(pred['labels']) <= {0, 1}
    # the exported weights are the student's
    state = torch.load(export, map_location='cpu')['state_dict']
    trained = torch.load(
        osp.join(work, 'student', 'iter_2.pth'), map_location='cpu',
        weights_only=False)['state_dict']
    assert all(torch.equal(v, trained['student.' + k])
               for k, v in state.items())
