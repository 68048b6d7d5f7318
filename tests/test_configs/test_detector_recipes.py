# Copyright (c) s4m-mm authors. All rights reserved.
"""The COCO configs of the S4M students that are not Mask2Former (Mask R-CNN
R-50 FPN, RTMDet-Ins-s) and of their supervised stage-1 teachers, pinned
against mmdet's own recipes, and loaded by mmdet's own tools/train.py.

The expected values are literals, each with the mmdet file it comes from
(mmdet 3.x, under mmdet/.mim/configs); nothing is read from the configs
under test, except where a relation between two of them is pinned (a
student names its teacher's last checkpoint). Files named below:

  ST       soft_teacher/soft-teacher_faster-rcnn_r50-caffe_fpn_180k_semi-0.1-coco.py
           (its 0.01 / 0.02 / 0.05 siblings only change the split)
  ST-DATA  _base_/datasets/semi_coco_detection.py (ST's loader and views)
  MRCNN    mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py and its
           _base_/models/mask-rcnn_r50_fpn.py
  RTM-L    rtmdet/rtmdet_l_8xb32-300e_coco.py (RTMDet's optimizer, lr
           policy, loader)
  RTM-S    rtmdet/rtmdet-ins_s_8xb32-300e_coco.py (the -s model, its
           stage-2 pipeline and hooks)
  S4M      the S4M code, github cvlab-kaist/S4M (config/add_cfg.py,
           scripts/coco/train_student.sh), as tests/test_configs/
           test_paper_recipes.py
"""
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet.registry import MODELS
from s4m_mm.testing import get_repo_root, tiny_sam_cfg

REPO = get_repo_root()
PERCENTS = (1, 2, 5, 10)

MASK_RCNN_TEACHER = 'coco_mask_rcnn/mask-rcnn_r50_fpn_8xb2-180k_coco-{}pct.py'
MASK_RCNN_STUDENT = ('coco_mask_rcnn/'
                     's4m-student_mask-rcnn_r50_fpn_8xb5-180k_coco-{}pct.py')
RTMDET_TEACHER = 'coco_rtmdet_ins/rtmdet-ins_s_8xb32-300e_coco-{}pct.py'
RTMDET_STUDENT = ('coco_rtmdet_ins/'
                  's4m-student_rtmdet-ins_s_8xb5-180k_coco-{}pct.py')

# ----------------------------------------------------------------------
# expected values
# ----------------------------------------------------------------------
#: what every student takes from mmdet's semi-supervised COCO recipe
SEMI = dict(
    # ST: train_cfg IterBasedTrainLoop max_iters=180000, val_interval=5000
    loop=('IterBasedTrainLoop', 180000, 5000),
    # ST: val_cfg TeacherStudentValLoop
    val_loop='TeacherStudentValLoop',
    # ST-DATA: batch_size = 5, num_workers = 5, GroupMultiSourceSampler
    # batch_size 5, source_ratio=[1, 4]
    loader=(5, 5),
    sampler=('GroupMultiSourceSampler', 5, [1, 4]),
    # ST: default_hooks checkpoint interval=10000, max_keep_ckpts=2
    checkpoint=(10000, 2),
    # ST: semi_train_cfg sup_weight=1.0
    sup_weight=1.0,
    # ST-DATA: labeled_dataset filter_cfg filter_empty_gt=True, min_size=32;
    # unlabeled filter_empty_gt=False
    labeled_filter=dict(filter_empty_gt=True, min_size=32),
    unlabeled_filter=dict(filter_empty_gt=False),
    # ST-DATA: the splits' names, semi_anns/instances_train2017.{fold}@
    # {percent}.json and ...-unlabeled.json, fold 1; images in train2017/
    unlabeled_img='train2017/',
)
#: the S4M settings every non-Mask2Former student keeps
S4M = dict(
    # S4M config/add_cfg.py UNSUP_WEIGHT 2.0; min_mask_area 80: the paper's
    # sigmoid sum > 5 at stride 4 (PredictionPseudoLabeler's 80 pixels)
    unsup_weight=2.0,
    min_mask_area=80,
    pseudo_labeler='PredictionPseudoLabeler',
    # S4M scripts/coco/train_student.sh BURNIN_ITER 25000; add_cfg.py
    # EMA_DECAY 0.9996
    teacher_schedule=(25000, 0.9996),
    # S4M: SAM 2 Hiera-L (SAM_TYPE 'large'), 3 points (NUM_POINTS 3), in
    # the masks for a teacher without mask logits
    refiner=('SAM2Adapter', 'sam2_hiera_l', 'points', 3, 'in_mask'),
    # S4M modules/augmentation.py: ARP of instances >= 3000 px at 1024 x
    # 1024, scale jitter 0.8-1.2, then the strong photometric augmentation
    batch_augments=(('arp', 'AdaptiveRandomPaste', 3000, 1024 * 1024,
                     (0.8, 1.2)), ('strong_aug', 'StrongPhotometricAug')),
)
MASK_RCNN_STUDENT_EXPECTED = dict(
    # ST: optim_wrapper OptimWrapper, SGD lr=0.01, momentum=0.9,
    # weight_decay=0.0001
    optimizer=('OptimWrapper', 'SGD', 0.01, 0.9, 0.0001),
    # ST: LinearLR start_factor=0.001 begin 0 end 500; MultiStepLR end
    # 180000 milestones=[120000, 160000] gamma=0.1
    schedulers=[('LinearLR', 0.001, 0, 500),
                ('MultiStepLR', 0, 180000, [120000, 160000], 0.1)],
    # ST: cls_pseudo_thr=0.9 (a box classifier of the same kind)
    score_thr=0.9,
    # ST-DATA: scale = [(1333, 400), (1333, 1200)], RandomResize keep_ratio
    # and RandomFlip 0.5 in sup_pipeline and weak_pipeline; RandAugment
    # aug_space=color_space aug_num=1 in sup_pipeline
    sup_types=['LoadImageFromFile', 'LoadAnnotations', 'RandomResize',
               'RandomFlip', 'RandAugment', 'FilterAnnotations',
               'MultiBranch'],
    unsup_types=['LoadImageFromFile', 'LoadEmptyAnnotations', 'RandomResize',
                 'RandomFlip', 'MultiBranch'],
    resize=([(1333, 400), (1333, 1200)], None),
    color_ops=9,
)
RTMDET_STUDENT_EXPECTED = dict(
    # RTM-L: optim_wrapper OptimWrapper AdamW lr=base_lr (0.004 for 8 x
    # 32), weight_decay=0.05, paramwise norm_decay_mult=0,
    # bias_decay_mult=0; the lr scaled linearly to the semi batch of 40
    # (ST-DATA 5 x 8 GPUs): 0.004 * 40 / 256
    optimizer=('OptimWrapper', 'AdamW', 0.000625, None, 0.05),
    paramwise=dict(norm_decay_mult=0, bias_decay_mult=0,
                   bypass_duplicate=True),
    # RTM-L: LinearLR start_factor=1.0e-5 over iterations 0-1000; cosine
    # from the middle of the run to its end, eta_min=base_lr * 0.05
    schedulers=[('LinearLR', 1e-5, 0, 1000),
                ('CosineAnnealingLR', 90000, 180000, 90000,
                 0.000625 * 0.05)],
    # a choice (quality-focal scores run lower)
    score_thr=0.5,
    # RTM-S train_pipeline_stage2, with masks (poly2mask=False): resize
    # 0.5-2.0 of 640, crop 640, filter, HSV, flip, pad 640 with 114
    sup_types=['LoadImageFromFile', 'LoadAnnotations', 'RandomResize',
               'RandomCrop', 'FilterAnnotations', 'YOLOXHSVRandomAug',
               'RandomFlip', 'Pad', 'MultiBranch'],
    unsup_types=['LoadImageFromFile', 'LoadEmptyAnnotations', 'RandomResize',
                 'RandomCrop', 'RandomFlip', 'Pad', 'MultiBranch'],
    resize=((640, 640), (0.5, 2.0)),
    pad=((640, 640), (114, 114, 114)),
)
MASK_RCNN_TEACHER_EXPECTED = dict(
    # ST's 180k iterations (the semi schedule; SoftTeacher's own supervised
    # baseline, configs/baseline/..._coco_partial_180k.py, trains 180k on
    # the split), validation every 5000
    loop=('IterBasedTrainLoop', 180000, 5000),
    # MRCNN: SGD lr=0.02, momentum=0.9, weight_decay=0.0001, for 8 x 2
    optimizer=('OptimWrapper', 'SGD', 0.02, 0.9, 0.0001),
    batch_size=2,
    # MRCNN: LinearLR start_factor=0.001 end=500; ST: milestones
    # [120000, 160000] of 180000
    schedulers=[('LinearLR', 0.001, 0, 500),
                ('MultiStepLR', 0, 180000, [120000, 160000], 0.1)],
)
RTMDET_TEACHER_EXPECTED = dict(
    # RTM-L: max_epochs = 300, interval = 10, dynamic_intervals
    # [(280, 1)]; batch_size=32, num_workers=10
    epochs=(300, 10, [(280, 1)]),
    batch=(32, 10),
    # RTM-L: AdamW lr 0.004 weight_decay 0.05
    optimizer=('OptimWrapper', 'AdamW', 0.004, None, 0.05),
    # RTM-S: EMAHook ExpMomentumEMA momentum=0.0002; PipelineSwitchHook
    # switch_epoch=280
    hooks=[('EMAHook', 'ExpMomentumEMA', 0.0002), ('PipelineSwitchHook',
                                                    280)],
)
#: BN of each detector: MRCNN's ResNet norm_cfg BN requires_grad=True with
#: norm_eval=True (frozen statistics), frozen_stages=1; RTM-L's SyncBN
#: everywhere (backbone, neck, RTM-L / RTM-S head)
BN = dict(
    MaskRCNN=(dict(type='BN', requires_grad=True), True, 1),
    RTMDet=(dict(type='SyncBN'), False, -1),
)
#: local ImageNet weights instead of MRCNN's 'torchvision://resnet50' and
#: RTM-S's URL of cspnext-s_imagenet_600e.pth
PRETRAINED = dict(
    MaskRCNN=('data/pretrained/resnet50-0676ba61.pth', None,
              'https://download.pytorch.org/models/resnet50-0676ba61.pth'),
    RTMDet=('data/pretrained/cspnext-s_imagenet_600e.pth', 'backbone.',
            'https://download.openmmlab.com/mmdetection/v3.0/rtmdet/'
            'cspnext_rsb_pretrain/cspnext-s_imagenet_600e.pth'),
)
#: mmdet's own config of each detector's model
MMDET_MODEL = dict(
    MaskRCNN='mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    RTMDet='rtmdet/rtmdet-ins_s_8xb32-300e_coco.py')


# ----------------------------------------------------------------------
# reading the configs
# ----------------------------------------------------------------------
def load(name):
    cfg = Config.fromfile(osp.join(REPO, 'configs/s4m', name))
    init_default_scope('mmdet')
    return cfg


def mmdet_config(name):
    import mmdet
    return Config.fromfile(
        osp.join(osp.dirname(mmdet.__file__), '.mim/configs', name))


def optimizer(cfg):
    opt = cfg.optim_wrapper.optimizer
    return (cfg.optim_wrapper.type, opt.type, opt.lr, opt.get('momentum'),
            opt.weight_decay)


def schedulers(cfg):
    out = []
    for s in cfg.param_scheduler:
        assert s.get('by_epoch', True) is False, s
        if s.type == 'LinearLR':
            out.append((s.type, s.start_factor, s.begin, s.end))
        elif s.type == 'MultiStepLR':
            out.append((s.type, s.begin, s.end, list(s.milestones), s.gamma))
        else:
            out.append((s.type, s.begin, s.end, s.T_max, s.eta_min))
    return out


def types(pipeline):
    return [t.type for t in pipeline]


def find(pipeline, type_):
    (found, ) = [t for t in pipeline if t.type == type_]
    return found


def without_init_cfg(model_cfg):
    model = model_cfg.to_dict() if hasattr(model_cfg, 'to_dict') else dict(
        model_cfg)
    model.pop('_scope_', None)  # what an mmdet:: base adds
    model['backbone'] = dict(model['backbone'])
    model['backbone'].pop('init_cfg', None)
    return model


def student_recipe(cfg):
    model = cfg.model
    loader = cfg.train_dataloader
    labeled, unlabeled = loader.dataset.datasets
    refiner = model.refiner
    augments = []
    for name, aug in model.unsup_batch_augments.items():
        if aug.type == 'AdaptiveRandomPaste':
            augments.append((name, aug.type, aug.min_area,
                             aug.reference_area, tuple(aug.scale_jitter)))
        else:
            augments.append((name, aug.type))
    semi = model.semi_train_cfg
    ts = cfg.default_hooks.teacher_schedule
    return dict(
        loop=(cfg.train_cfg.type, cfg.train_cfg.max_iters,
              cfg.train_cfg.val_interval),
        val_loop=cfg.val_cfg.type,
        loader=(loader.batch_size, loader.num_workers),
        sampler=(loader.sampler.type, loader.sampler.batch_size,
                 list(loader.sampler.source_ratio)),
        checkpoint=(cfg.default_hooks.checkpoint.interval,
                    cfg.default_hooks.checkpoint.max_keep_ckpts),
        sup_weight=semi.sup_weight,
        labeled_filter=dict(labeled.filter_cfg),
        unlabeled_filter=dict(unlabeled.filter_cfg),
        unlabeled_img=unlabeled.data_prefix.img,
        unsup_weight=semi.unsup_weight,
        min_mask_area=semi.min_mask_area,
        pseudo_labeler=model.pseudo_labeler.type,
        teacher_schedule=(ts.burn_in, ts.decay),
        refiner=(refiner.sam.type, refiner.sam.sam_type, refiner.prompt,
                 refiner.num_points, refiner.point_sampling),
        batch_augments=tuple(augments),
        optimizer=optimizer(cfg),
        schedulers=schedulers(cfg),
        score_thr=semi.score_thr,
        sup_types=types(labeled.pipeline),
        unsup_types=types(unlabeled.pipeline),
    )


def built(cfg):
    """The built model of a config (a tiny random SAM for a student's)."""
    model_cfg = cfg.model.copy()
    if model_cfg.type == 'S4M':
        model_cfg.refiner = dict(model_cfg.refiner, sam=tiny_sam_cfg())
    return MODELS.build(model_cfg)


# ----------------------------------------------------------------------
# tests
# ----------------------------------------------------------------------
@pytest.mark.parametrize('percent', PERCENTS)
@pytest.mark.parametrize(
    'student, expected',
    [(MASK_RCNN_STUDENT, MASK_RCNN_STUDENT_EXPECTED),
     (RTMDET_STUDENT, RTMDET_STUDENT_EXPECTED)],
    ids=['mask-rcnn', 'rtmdet-ins'])
def test_student_recipe(student, expected, percent):
    name = student.format(percent)
    cfg = load(name)
    got = student_recipe(cfg)
    want = dict(SEMI, **S4M)
    want.update(
        (k, expected[k]) for k in ('optimizer', 'schedulers', 'score_thr',
                                   'sup_types', 'unsup_types'))
    wrong = [
        f'  {k}: config {got.get(k, "<missing>")!r}, expected {v!r}'
        for k, v in want.items() if got.get(k, '<missing>') != v
    ]
    assert not wrong, '\n'.join([f'{name}:'] + wrong)
    # the split of that percentage (ST-DATA's names, fold 1)
    labeled, unlabeled = cfg.train_dataloader.dataset.datasets
    assert labeled.ann_file == \
        f'semi_anns/instances_train2017.1@{percent}.json'
    assert unlabeled.ann_file == \
        f'semi_anns/instances_train2017.1@{percent}-unlabeled.json'
    # the teacher and student views of an unlabeled image share one
    # geometry (every transform before the MultiBranch), and both keep the
    # homography that SAM, ARP and the carry read
    branch = unlabeled.pipeline[-1]
    assert set(branch) - {'type', 'branch_field'} == {
        'unsup_teacher', 'unsup_student'}
    for view in ('unsup_teacher', 'unsup_student'):
        assert branch[view].type == 'PackDetInputs'
        assert 'homography_matrix' in branch[view].meta_keys
    resize = find(unlabeled.pipeline, 'RandomResize')
    assert (resize.scale, resize.get('ratio_range')) == expected['resize']
    assert resize.keep_ratio is True
    assert find(unlabeled.pipeline, 'RandomFlip').prob == 0.5
    sup_resize = find(labeled.pipeline, 'RandomResize')
    assert (sup_resize.scale,
            sup_resize.get('ratio_range')) == expected['resize']
    if 'color_ops' in expected:
        aug = find(labeled.pipeline, 'RandAugment')
        assert (len(aug.aug_space), aug.aug_num) == (expected['color_ops'], 1)
    if 'pad' in expected:
        for pipeline in (labeled.pipeline, unlabeled.pipeline):
            pad = find(pipeline, 'Pad')
            assert (pad.size, pad.pad_val.img) == expected['pad']
    if 'paramwise' in expected:
        assert dict(cfg.optim_wrapper.paramwise_cfg) == expected['paramwise']
    # no hook of mmdet's recipes runs beside S4M's teacher schedule
    assert not cfg.get('custom_hooks')


@pytest.mark.parametrize('percent', PERCENTS)
def test_mask_rcnn_teacher_recipe(percent):
    cfg = load(MASK_RCNN_TEACHER.format(percent))
    expected = MASK_RCNN_TEACHER_EXPECTED
    assert (cfg.train_cfg.type, cfg.train_cfg.max_iters,
            cfg.train_cfg.val_interval) == expected['loop']
    assert optimizer(cfg) == expected['optimizer']
    assert schedulers(cfg) == expected['schedulers']
    loader = cfg.train_dataloader
    assert loader.batch_size == expected['batch_size']
    assert loader.dataset.ann_file == \
        f'semi_anns/instances_train2017.1@{percent}.json'
    # the labeled view of the student (ST-DATA sup_pipeline)
    assert types(loader.dataset.pipeline) == \
        MASK_RCNN_STUDENT_EXPECTED['sup_types'][:-1] + ['PackDetInputs']
    assert dict(loader.dataset.filter_cfg) == SEMI['labeled_filter']


@pytest.mark.parametrize('percent', PERCENTS)
def test_rtmdet_teacher_is_mmdets_recipe_on_the_split(percent):
    cfg = load(RTMDET_TEACHER.format(percent))
    expected = RTMDET_TEACHER_EXPECTED
    assert (cfg.train_cfg.max_epochs, cfg.train_cfg.val_interval,
            [tuple(d) for d in cfg.train_cfg.dynamic_intervals]) == \
        expected['epochs']
    loader = cfg.train_dataloader
    assert (loader.batch_size, loader.num_workers) == expected['batch']
    assert optimizer(cfg) == expected['optimizer']
    hooks = [(h.type, h.ema_type, h.momentum) if h.type == 'EMAHook' else
             (h.type, h.switch_epoch) for h in cfg.custom_hooks]
    assert hooks == expected['hooks']
    assert loader.dataset.type == 'S4MCocoDataset'
    assert loader.dataset.ann_file == \
        f'semi_anns/instances_train2017.1@{percent}.json'
    assert 'CachedMosaic' in types(loader.dataset.pipeline)


@pytest.mark.parametrize('name', [
    MASK_RCNN_TEACHER.format(1), MASK_RCNN_STUDENT.format(1),
    RTMDET_TEACHER.format(1), RTMDET_STUDENT.format(1)
])
def test_the_detector_is_mmdets_with_local_imagenet_weights(name):
    """The model is mmdet's own, key for key, but for the backbone's
    weights, read from a local file that a missing-file error names with
    where to download it."""
    cfg = load(name)
    detector = cfg.model.get('detector', cfg.model)
    mmdet_model = mmdet_config(MMDET_MODEL[detector.type]).model
    assert without_init_cfg(detector) == without_init_cfg(mmdet_model)
    path, prefix, url = PRETRAINED[detector.type]
    init = detector.backbone.init_cfg
    assert (init.type, init.checkpoint, init.get('prefix')) == (
        'CheckedPretrained', path, prefix)
    assert url in init.hint
    norm_cfg, norm_eval, frozen = BN[detector.type]
    assert dict(detector.backbone.norm_cfg) == norm_cfg
    assert detector.backbone.get('norm_eval', False) is norm_eval
    assert detector.backbone.get('frozen_stages', -1) == frozen


@pytest.mark.parametrize('name', [MASK_RCNN_STUDENT.format(1),
                                  RTMDET_STUDENT.format(1)])
def test_built_student_bn_and_optimizer(name):
    """What the student builds: its BN layers (RTMDet's SyncBN, Mask R-CNN's
    BN with frozen statistics in the backbone) and the lr / weight decay of
    its optimizer's parameter groups."""
    cfg = load(name)
    model = built(cfg)
    student = model.student
    norms = {type(m).__name__ for m in student.modules()
             if isinstance(m, _BatchNorm)}
    if cfg.model.detector.type == 'RTMDet':
        assert norms == {'SyncBatchNorm'}
    else:
        assert norms == {'BatchNorm2d'}
        student.train()
        assert not any(m.training for m in student.backbone.modules()
                       if isinstance(m, _BatchNorm))
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    want = RTMDET_STUDENT_EXPECTED if cfg.model.detector.type == 'RTMDet' \
        else MASK_RCNN_STUDENT_EXPECTED
    _, _, lr, momentum, decay = want['optimizer']
    groups = wrapper.optimizer.param_groups
    assert all(g['lr'] == pytest.approx(lr) for g in groups)
    decays = {g['weight_decay'] for g in groups}
    if 'paramwise' in want:
        assert decays == {0.0, decay}  # no decay on norms and biases
    else:
        assert decays == {decay}
        assert {g['momentum'] for g in groups} == {momentum}


@pytest.mark.parametrize('percent', PERCENTS)
@pytest.mark.parametrize('teacher, student',
                         [(MASK_RCNN_TEACHER, MASK_RCNN_STUDENT),
                          (RTMDET_TEACHER, RTMDET_STUDENT)],
                         ids=['mask-rcnn', 'rtmdet-ins'])
def test_student_names_its_teachers_last_checkpoint(teacher, student,
                                                    percent):
    teacher_name = teacher.format(percent)
    t_cfg = load(teacher_name)
    last = (f'iter_{t_cfg.train_cfg.max_iters}.pth'
            if 'max_iters' in t_cfg.train_cfg else
            f'epoch_{t_cfg.train_cfg.max_epochs}.pth')
    work_dir = osp.splitext(osp.basename(teacher_name))[0]
    s_cfg = load(student.format(percent))
    assert s_cfg.default_hooks.teacher_schedule.teacher_checkpoint == \
        f'work_dirs/{work_dir}/{last}'


@pytest.mark.slow
@pytest.mark.parametrize('name', [MASK_RCNN_STUDENT.format(1),
                                  RTMDET_STUDENT.format(1)])
def test_student_loads_in_mmdets_own_train_py(name, tmp_path):
    """mmdet's tools/train.py, run in a directory outside the repository on
    a config there that inherits the student (a tiny SAM, no ImageNet
    read), builds the S4M runner and its model, and then stops where the
    data is missing, naming the split and how to make it: nothing but the
    data is missing from the config."""
    import mmdet
    mmdet_train = osp.join(osp.dirname(mmdet.__file__), '.mim/tools/train.py')
    outside = tmp_path / 'elsewhere'
    outside.mkdir()
    child = outside / 'student.py'
    child.write_text(
        f"_base_ = [{osp.join(REPO, 'configs/s4m', name)!r}]\n"
        f'model = dict(refiner=dict(sam={tiny_sam_cfg()!r}),\n'
        '             detector=dict(backbone=dict(init_cfg=None)))\n')
    work = str(tmp_path / 'work')
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    result = subprocess.run(
        [sys.executable, mmdet_train, str(child), '--work-dir', work],
        cwd=str(outside), capture_output=True, text=True, env=env,
        timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode != 0, log[-3000:]
    # the runner was built: config dumped, model built and wrapped
    assert osp.isfile(osp.join(work, 'student.py')), log[-3000:]
    assert 'Distributed training is not used' in log, log[-3000:]
    # and the first thing train() needs that is absent is the data
    assert 'FileNotFoundError' in log, log[-3000:]
    assert 'data/coco/semi_anns/instances_train2017.1@1.json' in log
    assert 'split_coco_semi.py' in log
