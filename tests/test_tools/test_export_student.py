# Copyright (c) s4m-mm authors. All rights reserved.
"""Any S4M student, exported with tools/model_converters/s4m_to_mmdet.py,
is a stock mmdet model: the exported config and checkpoint predict with
mmdet's DetInferencer and mmdet's own tools/test.py exactly what the S4M
wrapper's student predicts on the same images, and the model DetInferencer
builds holds the student's weights and gives its raw outputs."""
import os
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmdet.registry import MODELS

HERE = osp.dirname(osp.abspath(__file__))
RELIABILITY = osp.join(osp.dirname(HERE), 'test_reliability')
if RELIABILITY not in sys.path:
    sys.path.insert(0, RELIABILITY)
from small_student import small_student_config, write_semi_data  # noqa

pytestmark = pytest.mark.slow
ITERS = 3


def run(args, cwd):
    # one thread in every process: the same kernels, the same floats
    env = dict(os.environ, OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable] + args, cwd=cwd, env=env,
                            capture_output=True, text=True)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    return log


@pytest.fixture(scope='module',
                params=['mask2former', 'mask_rcnn', 'rtmdet_ins'])
def trained_student(request, tmp_path_factory, repo_root):
    """The small student of a kind after ``ITERS`` iterations of
    tools/train.py (burn-in 2): its config and checkpoint."""
    out = str(tmp_path_factory.mktemp(f'export_{request.param}'))
    data = osp.join(out, 'data')
    write_semi_data(data)
    config = small_student_config(repo_root, data, out, burn_in=2,
                                  kind=request.param)
    work = osp.join(out, 'work')
    run(['tools/train.py', config, '--work-dir', work, '--cfg-options',
         f'train_cfg.max_iters={ITERS}', f'train_cfg.val_interval={ITERS}',
         f'default_hooks.checkpoint.interval={ITERS}'], repo_root)
    return config, osp.join(work, f'iter_{ITERS}.pth')


def s4m_student(config, checkpoint):
    """The S4M wrapper of ``config`` with the weights of ``checkpoint``,
    and its predictions (its student's, ``predict_on`` as the config says)
    and preprocessed batches of the config's test images, by image path."""
    init_default_scope('mmdet')
    cfg = Config.fromfile(config)
    if 'checkpoint' in cfg.model.detector.backbone:
        cfg.model.detector.backbone.checkpoint = None
    model = MODELS.build(cfg.model)
    state = torch.load(checkpoint, map_location='cpu',
                       weights_only=False)['state_dict']
    missing, unexpected = model.load_state_dict(state, strict=False)
    # SAM is not saved in S4M checkpoints
    assert not unexpected and all(k.startswith('refiner.') for k in missing)
    model.eval()
    predictions, batches = {}, []
    with torch.no_grad():
        for batch in Runner.build_dataloader(cfg.test_dataloader):
            batches.append(model.data_preprocessor(batch, False))
            for sample in model.test_step(batch):
                predictions[sample.img_path] = sample.pred_instances
    return model, predictions, batches


def tensors(tree):
    """The tensors of nested tuples / lists, in order."""
    if isinstance(tree, torch.Tensor):
        return [tree]
    return [t for item in tree for t in tensors(item)]


def rle(mask):
    from pycocotools import mask as mask_util
    return mask_util.encode(np.asfortranarray(mask.numpy().astype(np.uint8)))


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_exported_student_predicts_as_the_s4m_student(
        trained_student, tmp_path, repo_root, one_thread):
    import mmdet
    from mmdet.apis import DetInferencer
    config, checkpoint = trained_student
    exported = str(tmp_path / 'student.pth')
    run(['tools/model_converters/s4m_to_mmdet.py', checkpoint, exported,
         '--config', config], repo_root)
    exported_config = str(tmp_path / 'student.py')
    detector = Config.fromfile(config).model.detector
    assert Config.fromfile(exported_config).model.type == detector.type

    s4m, expected, batches = s4m_student(config, checkpoint)
    assert len(expected) == 2  # the val images
    assert all(len(pred) > 0 for pred in expected.values())
    if detector.type != 'Mask2Former':
        # scores and masks to compare (the tiny Mask2Former's BN statistics
        # after 3 iterations leave it empty masks of score 0: its raw
        # outputs below are the comparison that counts)
        for pred in expected.values():
            assert pred.scores.max() > 0 and pred.masks.any()

    # mmdet's DetInferencer on the exported pair
    inferencer = DetInferencer(model=exported_config, weights=exported,
                               device='cpu', show_progress=False)
    images = sorted(expected)
    samples = inferencer(images, return_datasamples=True)['predictions']
    for path, sample in zip(images, samples):
        got, want = sample.pred_instances, expected[path]
        for key in ('labels', 'scores', 'bboxes', 'masks'):
            assert torch.equal(got[key], want[key]), (path, key)
    # the model it built: the student's weights, the student's raw outputs
    stock = inferencer.model
    trained = {k[len('student.'):]: v for k, v in s4m.state_dict().items()
               if k.startswith('student.')}
    differ = [k for k, v in stock.state_dict().items()
              if k not in trained or not torch.equal(v, trained.pop(k))]
    assert not differ and not trained, (differ, list(trained))
    with torch.no_grad():
        for data in batches:
            want = tensors(s4m.student(**data, mode='tensor'))
            got = tensors(stock(**data, mode='tensor'))
            assert len(got) == len(want) > 0
            assert all(torch.equal(g, w) for g, w in zip(got, want))

    # mmdet's own tools/test.py on the exported pair
    out = str(tmp_path / 'predictions.pkl')
    mmdet_test = osp.join(osp.dirname(mmdet.__file__), '.mim/tools/test.py')
    log = run([mmdet_test, exported_config, exported, '--out', out,
               '--work-dir', str(tmp_path / 'test')], str(tmp_path))
    assert 'coco/segm_mAP' in log
    with open(out, 'rb') as f:
        results = pickle.load(f)
    assert sorted(r['img_path'] for r in results) == images
    for result in results:
        got, want = result['pred_instances'], expected[result['img_path']]
        for key in ('labels', 'scores', 'bboxes'):
            assert torch.equal(got[key], want[key]), (result['img_path'], key)
        assert got['masks'] == [rle(m) for m in want['masks']]
