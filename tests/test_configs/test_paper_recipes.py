# Copyright (c) s4m-mm authors. All rights reserved.
"""The paper's recipes, pinned: every setting of the 16 paper configs
(teacher and student, COCO 1/2/5/10 %, Cityscapes 5/10/20/30 %) against the
official S4M code (github cvlab-kaist/S4M at commit 47e2cf6: its
detectron2 configs, scripts and README; detectron2's defaults where they
leave a value unset).

The expected values are literals, each with the official file it comes
from; nothing is read from the configs under test. The crop and the padded
batch are measured: the config's train pipelines run on a synthetic image
of the dataset's size (COCO 480 x 640, Cityscapes 1024 x 2048) with seeded
draws, and its data preprocessor pads the packed batch.

Official files named below (paths in that repository):
  B-COCO  configs/coco/instance-segmentation/
          Base-COCO-InstanceSegmentation.yaml
  M-COCO  configs/coco/instance-segmentation/maskformer2_R50_bs16_50ep.yaml
  B-CS    configs/cityscapes/instance-segmentation/
          Base-Cityscapes-InstanceSegmentation.yaml
  M-CS    configs/cityscapes/instance-segmentation/
          maskformer2_R50_bs16_90k.yaml
  S-*     scripts/{coco,cityscapes}/train_{teacher,student}.sh
  ADD     config/add_cfg.py (SSL defaults)
  NET     train_net.py (optimizer, samplers, evaluators)
  MODEL   mask2former/maskformer_model.py
  AUG     modules/augmentation.py (ARP)
  README  README.md (GPUs of each stage)
  D2      detectron2 defaults (detectron2/config/defaults.py) and DeepLab's
          add_deeplab_config (POLY_LR_POWER 0.9, POLY_LR_CONSTANT_ENDING 0)
"""
import copy
import json
import os.path as osp
import random
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmdet.registry import MODELS, TRANSFORMS
from s4m_mm.models.detectors import multi_branch_preprocessor
from s4m_mm.testing import get_repo_root

REPO = get_repo_root()

# ----------------------------------------------------------------------
# expected values
# ----------------------------------------------------------------------
#: the strong augmentation of the S4M code (modules/augmentation.py
#: StrongAugmentation: T.ColorJitter(0.4, 0.4, 0.4, 0.1) p 0.8,
#: T.RandomGrayscale(p=0.2), GaussianBlur([0.1, 2.0]) p 0.5)
PAPER_STRONG_AUG = (0.4, 0.4, 0.4, 0.1, 0.8, 0.2, 0.5, (0.1, 2.0))

COMMON = dict(
    # B-COCO / B-CS: OPTIMIZER ADAMW, BASE_LR 0.0001, WEIGHT_DECAY 0.05;
    # NET build_optimizer: torch.optim.AdamW(params, BASE_LR), i.e. torch's
    # betas (0.9, 0.999) and eps 1e-8
    optimizer=('AdamW', 1e-4, (0.9, 0.999), 1e-8, 0.05),
    # B-*: BACKBONE_MULTIPLIER 0.1 (lr of parameters under "backbone")
    backbone_lr_mult=0.1,
    # mask2former/config.py WEIGHT_DECAY_EMBED 0.0 (query_feat, query_embed,
    # level_embed are nn.Embedding); D2 WEIGHT_DECAY_NORM 0.0
    embed_decay_mult=0.0,
    norm_decay_mult=0.0,
    # NET build_optimizer: lr x BACKBONE_MULTIPLIER for parameters of
    # modules named "backbone", weight decay 0 (WEIGHT_DECAY_NORM) for every
    # norm module, the backbone's too; measured on the built R-50 backbone
    backbone_conv_lr_wd=(1e-5, 0.05),
    # B-*: CLIP_GRADIENTS full_model, CLIP_VALUE 0.01, NORM_TYPE 2.0
    clip_grad=(0.01, 2),
    # B-*: AMP.ENABLED True (detectron2's AMPTrainer: dynamic loss scale)
    amp=('AmpOptimWrapper', 'dynamic'),
    # B-COCO: WARMUP_ITERS 10 with WARMUP_FACTOR 1.0, i.e. detectron2's
    # linear warm-up from 1.0 x lr to 1.0 x lr: a constant; B-CS:
    # WARMUP_ITERS 0. Neither warms up.
    warmup=None,
    # M-*: NUM_OBJECT_QUERIES 100
    num_queries=100,
    # M-*: DEC_LAYERS 10 (9 decoder layers + the learnable-query loss),
    # TRANSFORMER_ENC_LAYERS 6
    decoder_layers=9,
    pixel_encoder_layers=6,
    # M-*: CLASS_WEIGHT 2.0, MASK_WEIGHT 5.0, DICE_WEIGHT 5.0,
    # NO_OBJECT_WEIGHT 0.1; the matcher uses the same costs (MODEL)
    loss_weights=(2.0, 5.0, 5.0, 0.1),
    matcher_costs=(2.0, 5.0, 5.0),
    # M-*: TRAIN_NUM_POINTS 12544, OVERSAMPLE_RATIO 3.0,
    # IMPORTANCE_SAMPLE_RATIO 0.75
    point_sampling=(12544, 3.0, 0.75),
    # D2 TEST.DETECTIONS_PER_IMAGE 100
    max_per_image=100,
    # B-*: BACKBONE.FREEZE_AT 0 (no stage frozen)
    frozen_stages=-1,
)

COCO = dict(
    # B-COCO: MAX_ITER 368750, STEPS (327778, 355092), D2 GAMMA 0.1; the
    # scripts S-coco never override them
    max_iters=368750,
    schedule=('MultiStepLR', (327778, 355092), 0.1),
    # M-COCO NUM_CLASSES 80
    num_classes=80,
    # D2 RESNETS.NORM "FrozenBN" (B-COCO leaves it: "# NORM: SyncBN"
    # commented out): ImageNet statistics, no affine update
    bn=('BN', False, True),
    backbone_norm_lr_wd='frozen',
    # B-COCO IMAGE_SIZE 1024, MIN_SCALE 0.1, MAX_SCALE 2.0
    # (coco_instance_lsj: ResizeScale + FixedSizeCrop 1024 x 1024)
    train_resize=('RandomResize', (1024, 1024), (0.1, 2.0)),
    labeled_colour=None,
    # D2 MIN_SIZE_TEST 800, MAX_SIZE_TEST 1333
    test_resize=(1333, 800),
    # NET build_evaluator: COCOEvaluator
    metrics=('CocoMetric', ),
    # the crop (h, w) and the padded batch (h, w) the pipeline makes of a
    # 480 x 640 image (largest crop over the seeded draws): FixedSizeCrop
    # 1024 x 1024, padded to 1024 x 1024
    crop_hw=(1024, 1024),
    batch_hw=(1024, 1024),
)
COCO_TEACHER = dict(
    COMMON, **COCO,
    # S-coco teacher: IMS_PER_BATCH 16; README: 2x RTX A6000
    gpus_x_imgs=(2, 8),
    # NET: SSL.TRAIN_SSL False -> D2 SAMPLER_TRAIN TrainingSampler
    labeled_sampler=('InfiniteSampler', None),
    # S-coco teacher: CHECKPOINT_PERIOD 5000, TEST.EVAL_PERIOD 5000
    val_interval=5000,
    checkpoint_interval=5000,
    val_loop='ValLoop',
)
COCO_STUDENT = dict(
    COMMON, **COCO,
    # S-coco student: IMS_PER_BATCH 12 for the labeled and the same for
    # the unlabeled loader (NET: cfg cloned); README: 4x RTX A6000
    gpus_x_imgs=(4, (3, 3)),
    # NET setup(): TRAIN_SSL -> RepeatFactorTrainingSampler,
    # REPEAT_THRESHOLD 10.0; unlabeled: TrainingSampler
    labeled_sampler=('RepeatFactorMultiSourceSampler', 10.0),
    # S-coco student: CHECKPOINT_PERIOD 7000, TEST.EVAL_PERIOD 7000
    val_interval=7000,
    checkpoint_interval=7000,
    # ADD EVAL_WHO; both as EVAL_WHO BOTH allows
    val_loop='TeacherStudentValLoop',
    # S-coco student: BURNIN_ITER 25000; ADD EMA_DECAY 0.9996
    teacher_schedule=(25000, 0.9996, 'config'),
    # MODEL prepare_ssl_outputs thresh_class .7, mask_size 5; MODEL
    # "2.0*v" for the unsupervised losses
    semi=(1.0, 2.0, 0.7, 5.0),
    # ADD SAM_PMPT "npoints", NUM_POINTS 3; modules/train_loop.py samples
    # from softmax(mask logits); no gate
    refiner=('points', 3, 'logits', {}),
    # AUG mask_.sum() < 3000 at the 1024 x 1024 input; S-coco student
    # AUG_STATIC False: scale jitter
    arp=(3000, 1024 * 1024, (0.8, 1.2)),
    # modules/augmentation.py: ARP first, then the strong augmentation
    # (ColorJitter(0.4, 0.4, 0.4, 0.1) p 0.8, RandomGrayscale p 0.2,
    # GaussianBlur sigma U(0.1, 2) p 0.5)
    unsup_batch_augments=('AdaptiveRandomPaste', 'StrongPhotometricAug'),
    strong_aug=PAPER_STRONG_AUG,
    # COCO's unlabeled mapper (ImageDatasetMapper): no colour jitter
    unsup_teacher_colour=None,
)

CITYSCAPES = dict(
    # B-CS: MAX_ITER 90000, LR_SCHEDULER_NAME WarmupPolyLR, D2/DeepLab
    # POLY_LR_POWER 0.9, POLY_LR_CONSTANT_ENDING 0.0
    max_iters=90000,
    schedule=('PolyLR', 0.9, 0.0),
    # M-CS NUM_CLASSES 8
    num_classes=8,
    # B-CS RESNETS.NORM "SyncBN": trained, batch statistics
    bn=('SyncBN', True, False),
    backbone_norm_lr_wd=(1e-5, 0.0),
    # B-CS MIN_SIZE_TRAIN [int(x * 0.1 * 1024) for x in range(5, 21)],
    # "choice", MAX_SIZE_TRAIN 4096
    train_resize=('RandomChoiceResize', (
        (4096, 512), (4096, 614), (4096, 716), (4096, 819), (4096, 921),
        (4096, 1024), (4096, 1126), (4096, 1228), (4096, 1331),
        (4096, 1433), (4096, 1536), (4096, 1638), (4096, 1740),
        (4096, 1843), (4096, 1945), (4096, 2048))),
    # B-CS COLOR_AUG_SSD True (detectron2's ColorAugSSDTransform)
    labeled_colour='ColorAugSSD',
    # B-CS MIN_SIZE_TEST 1024, MAX_SIZE_TEST 2048
    test_resize=(2048, 1024),
    # NET build_evaluator: CityscapesInstanceEvaluator (the paper's mask
    # AP); COCO AP kept beside it
    metrics=('CocoMetric', 'CityScapesMetric'),
    # B-CS CROP.SIZE (512, 1024) "absolute" (h, w), SIZE_DIVISIBILITY -1:
    # every draw of a 1024 x 2048 frame is 512 x 1024, no padding
    crop_hw=(512, 1024),
    batch_hw=(512, 1024),
    # S-cityscapes: CHECKPOINT_PERIOD 5000, TEST.EVAL_PERIOD 5000
    val_interval=5000,
    checkpoint_interval=5000,
)
CITYSCAPES_TEACHER = dict(
    COMMON, **CITYSCAPES,
    # S-cityscapes teacher: IMS_PER_BATCH 4; README: 2x RTX 3090
    gpus_x_imgs=(2, 2),
    labeled_sampler=('InfiniteSampler', None),
    val_loop='ValLoop',
)
CITYSCAPES_STUDENT = dict(
    COMMON, **CITYSCAPES,
    # S-cityscapes student: IMS_PER_BATCH 16 + 16; README: 4x RTX 3090
    gpus_x_imgs=(4, (4, 4)),
    labeled_sampler=('RepeatFactorMultiSourceSampler', 10.0),
    val_loop='TeacherStudentValLoop',
    # ADD BURNIN_ITER 15000 (the script keeps it), EMA_DECAY 0.9996
    teacher_schedule=(15000, 0.9996, 'config'),
    semi=(1.0, 2.0, 0.7, 5.0),
    refiner=('points', 3, 'logits', {}),
    # AUG 3000 px at the 512 x 1024 input; ADD AUG_STATIC True: no jitter
    arp=(3000, 512 * 1024, None),
    unsup_batch_augments=('AdaptiveRandomPaste', 'StrongPhotometricAug'),
    strong_aug=PAPER_STRONG_AUG,
    # mask2former/data/dataset_mappers/mask_former_image_dataset_mapper.py:
    # the teacher's unlabeled view is colour-jittered, the student's
    # strong augmentation starts from the frame before it (AUG
    # StrongAugmentation image_key "image_wo_weak")
    unsup_teacher_colour='ColorAugSSD',
)
# Stage 1 only: structural distillation. The S4M code samples 128 points,
# half on the GT foreground (modules/train_loop.py extract_point_gt_rand),
# SmoothL1 (Huber, beta 1), ADD SD_WEIGHT 1
SD = dict(sd=(128, 0.5, 'SmoothL1Loss', 1.0, 1.0))
# The one SAM row of the table: SAM 2 Hiera-L with the SAM 2.0 weights
# (ADD SSL.SAM_TYPE 'large' -> SAM_CFG sam2_hiera_l.yaml; modules/defaults.py
# build_refiner reads f'sam2_hiera_{SAM_TYPE}.pt')
SAM = dict(sam=('SAM2Adapter', 'sam2_hiera_l', 'sam2_hiera_large.pt'))

COCO_ANN = 'semi_anns/instances_train2017.1@{}.json'
COCO_UNL = 'semi_anns/instances_train2017.1@{}-unlabeled.json'
CS_ANN = 'annotations/instancesonly_filtered_gtFine_train.1@{}.json'
CS_UNL = 'annotations/instancesonly_filtered_gtFine_train.1@{}-unlabeled.json'


def paper_table():
    table = {}
    for p in (1, 2, 5, 10):
        teacher = f's4m-teacher_r50_2xb8-368750iter_coco-{p}pct'
        table[f'coco/{teacher}.py'] = dict(
            COCO_TEACHER, **SD, **SAM, labeled=COCO_ANN.format(p))
        table[f'coco/s4m-student_r50_4xb6-368750iter_coco-{p}pct.py'] = \
            dict(COCO_STUDENT, **SAM, labeled=COCO_ANN.format(p),
                 unlabeled=COCO_UNL.format(p),
                 teacher_checkpoint=f'work_dirs/{teacher}/iter_368750.pth')
    for p in (5, 10, 20, 30):
        teacher = f's4m-teacher_r50_2xb2-90k_cityscapes-{p}pct'
        table[f'cityscapes/{teacher}.py'] = dict(
            CITYSCAPES_TEACHER, **SD, **SAM, labeled=CS_ANN.format(p))
        table[f'cityscapes/s4m-student_r50_4xb8-90k_cityscapes-{p}pct.py'] \
            = dict(CITYSCAPES_STUDENT, **SAM, labeled=CS_ANN.format(p),
                   unlabeled=CS_UNL.format(p),
                   teacher_checkpoint=f'work_dirs/{teacher}/iter_90000.pth')
    return table


PAPER = paper_table()

# ----------------------------------------------------------------------
# what a config says
# ----------------------------------------------------------------------


def load(name):
    cfg = Config.fromfile(osp.join(REPO, 'configs/s4m', name))
    init_default_scope('mmdet')
    return cfg


def as_tuple(x):
    return tuple(as_tuple(v) for v in x) if isinstance(x, (list, tuple)) \
        else x


def strong_aug_settings(cfg):
    """The built strong augmentation's jitter strengths, probabilities
    and blur range (its defaults unless the config overrides them)."""
    aug = MODELS.build(copy.deepcopy(cfg))
    return (aug.brightness, aug.contrast, aug.saturation, aug.hue,
            aug.color_jitter_prob, aug.grayscale_prob, aug.blur_prob,
            aug.blur_sigma)


def find(pipeline, type_name):
    hits = [t for t in pipeline if t['type'] == type_name]
    return hits[0] if hits else None


def branch_transforms(pipeline, branch):
    multi = find(pipeline, 'MultiBranch')
    steps = multi[branch]
    return steps if isinstance(steps, list) else [steps]


def gpus_and_images(name, cfg):
    """GPUs and images a GPU from the name (``..._{G}xb{B}-...``), checked
    against the loader and auto_scale_lr; students split B by the
    sampler's source ratio."""
    gpus, per_gpu = map(int, re.search(r'_(\d+)xb(\d+)-', name).groups())
    loader = cfg.train_dataloader
    assert loader.batch_size == per_gpu, (name, loader.batch_size)
    assert cfg.auto_scale_lr.base_batch_size == gpus * per_gpu, name
    ratio = loader.sampler.get('source_ratio')
    if ratio is None:
        return gpus, per_gpu
    assert loader.sampler.batch_size == per_gpu
    labeled = per_gpu * ratio[0] // sum(ratio)
    return gpus, (labeled, per_gpu - labeled)


def schedule(cfg):
    scheds = cfg.param_scheduler
    scheds = scheds if isinstance(scheds, list) else [scheds]
    main = [s for s in scheds if s.get('begin', 0) == 0 and
            s.get('end') == cfg.train_cfg.max_iters]
    assert len(main) == 1, scheds
    s = main[0]
    assert not s.by_epoch
    if s.type == 'MultiStepLR':
        out = (s.type, tuple(s.milestones), s.gamma)
    elif s.type == 'PolyLR':
        out = (s.type, s.power, s.eta_min)
    else:
        out = (s.type, )
    warmups = [(w.type, w.get('end')) for w in scheds if w is not s]
    return out, warmups or None


def recipe(name):
    """Every pinned setting of one config, with the measured crop and
    batch shapes."""
    cfg = load(name)
    student = cfg.model.type == 'S4M'
    det = cfg.model.detector if student else cfg.model
    head = det.panoptic_head
    optim = cfg.optim_wrapper
    opt = optim.optimizer
    keys = optim.paramwise_cfg.custom_keys
    sched, warmup = schedule(cfg)
    loader = cfg.train_dataloader
    labeled = loader.dataset.datasets[0] if student else loader.dataset
    pipeline = labeled.pipeline
    resize = find(pipeline, 'RandomResize') or \
        find(pipeline, 'RandomChoiceResize')
    colour = [t['type'] for t in pipeline
              if t['type'] in ('ColorAugSSD', 'PhotoMetricDistortion')]
    evaluators = cfg.val_evaluator.metrics.values() \
        if cfg.val_evaluator.type == 'NamedEvaluator' else [cfg.val_evaluator]
    test_resize = find(cfg.val_dataloader.dataset.pipeline, 'Resize')
    sam = cfg.model.refiner.sam if student else cfg.model.sam
    out = dict(
        optimizer=(opt.type, opt.lr, tuple(opt.betas), opt.eps,
                   opt.weight_decay),
        backbone_lr_mult=keys['backbone'].lr_mult,
        embed_decay_mult=tuple(
            {keys[k].decay_mult
             for k in ('query_embed', 'query_feat', 'level_embed')}),
        norm_decay_mult=optim.paramwise_cfg.norm_decay_mult,
        clip_grad=(optim.clip_grad.max_norm, optim.clip_grad.norm_type),
        amp=(optim.type, optim.get('loss_scale')),
        warmup=warmup,
        num_queries=head.num_queries,
        decoder_layers=head.transformer_decoder.num_layers,
        pixel_encoder_layers=head.pixel_decoder.encoder.num_layers,
        loss_weights=(head.loss_cls.loss_weight, head.loss_mask.loss_weight,
                      head.loss_dice.loss_weight,
                      head.loss_cls.class_weight[-1]),
        matcher_costs=tuple(c.weight
                            for c in det.train_cfg.assigner.match_costs),
        point_sampling=(det.train_cfg.num_points,
                        det.train_cfg.oversample_ratio,
                        det.train_cfg.importance_sample_ratio),
        max_per_image=det.test_cfg.max_per_image,
        frozen_stages=det.backbone.frozen_stages,
        max_iters=cfg.train_cfg.max_iters,
        schedule=sched,
        num_classes=head.num_things_classes,
        bn=(det.backbone.norm_cfg.type, det.backbone.norm_cfg.requires_grad,
            det.backbone.norm_eval),
        train_resize=(resize['type'], as_tuple(resize['scale']),
                      as_tuple(resize['ratio_range']))
        if resize['type'] == 'RandomResize' else
        (resize['type'], as_tuple(resize['scales'])),
        labeled_colour=colour[0] if colour else None,
        test_resize=as_tuple(test_resize['scale']),
        metrics=tuple(e.type for e in evaluators),
        gpus_x_imgs=gpus_and_images(name, cfg),
        labeled_sampler=(loader.sampler.type,
                         loader.sampler.get('repeat_thr')),
        val_interval=cfg.train_cfg.val_interval,
        checkpoint_interval=cfg.default_hooks.checkpoint.interval,
        val_loop=cfg.val_cfg.type,
        sam=(sam.type, sam.get('sam_type'), osp.basename(sam.checkpoint)),
        labeled=labeled.ann_file,
    )
    if len(set(out['embed_decay_mult'])) == 1:
        out['embed_decay_mult'] = out['embed_decay_mult'][0]
    if student:
        ts = cfg.default_hooks.teacher_schedule
        assert ts.type == 'TeacherScheduleHook'
        semi = cfg.model.semi_train_cfg
        ref = cfg.model.refiner
        augments = [
            a for a in cfg.model.unsup_batch_augments.values()
            if a is not None
        ]
        (mix, ) = [a for a in augments if a.type == 'AdaptiveRandomPaste']
        (strong, ) = [a for a in augments
                      if a.type == 'StrongPhotometricAug']
        unl = loader.dataset.datasets[1]
        teacher_view = [t['type'] for t in branch_transforms(
            unl.pipeline, 'unsup_teacher') if t['type'] != 'PackDetInputs']
        out.update(
            teacher_schedule=(ts.burn_in, ts.decay,
                              ts.get('init_student', 'config')),
            teacher_checkpoint=ts.teacher_checkpoint,
            semi=(semi.sup_weight, semi.unsup_weight, semi.score_thr,
                  semi.min_mask_sum),
            refiner=(ref.prompt, ref.num_points, ref.point_sampling,
                     dict(ref.get('gate') or {})),
            arp=(mix.min_area, mix.reference_area,
                 as_tuple(mix.scale_jitter)),
            unsup_batch_augments=tuple(a.type for a in augments),
            strong_aug=strong_aug_settings(strong),
            unsup_teacher_colour=teacher_view[0] if teacher_view else None,
            unlabeled=unl.ann_file)
    else:
        out['sd'] = (head.num_sd_points, head.sd_fg_ratio, head.loss_sd.type,
                     head.loss_sd.beta, head.loss_sd.loss_weight)
    out.update(backbone_lr_wd(det.backbone, cfg.optim_wrapper))
    out.update(crop_and_batch(name, cfg))
    return out


# ----------------------------------------------------------------------
# the lr and weight decay the optimizer gives the backbone's parameters
# ----------------------------------------------------------------------
_GROUPS = {}


def backbone_lr_wd(backbone_cfg, optim_cfg):
    """lr and weight decay of the built backbone's convolutions and norm
    layers (``'frozen'`` when they do not train), under the name they have
    in a student (``student.backbone.*``)."""
    key = json.dumps([backbone_cfg, optim_cfg], default=str)
    if key not in _GROUPS:
        backbone_cfg = copy.deepcopy(backbone_cfg)
        backbone_cfg.pop('init_cfg', None)
        model = torch.nn.Module()
        model.student = torch.nn.Module()
        model.student.backbone = MODELS.build(backbone_cfg)
        # same param groups without AmpOptimWrapper's GPU check
        optim_cfg = copy.deepcopy(optim_cfg)
        optim_cfg.pop('loss_scale', None)
        optim_cfg['type'] = 'OptimWrapper'
        wrapper = build_optim_wrapper(model, optim_cfg)
        groups = {
            id(p): group
            for group in wrapper.optimizer.param_groups
            for p in group['params']
        }
        seen = {}
        for n, p in model.named_parameters():
            kind = 'norm' if re.search(r'\.bn\d\.|downsample\.1\.', n) \
                else 'conv'
            group = groups.get(id(p))
            value = (float(f"{group['lr']:.12g}"),
                     float(f"{group['weight_decay']:.12g}")) \
                if p.requires_grad and group is not None else 'frozen'
            seen.setdefault(kind, set()).add(value)
        assert all(len(v) == 1 for v in seen.values()), seen
        _GROUPS[key] = {
            f'backbone_{kind}_lr_wd': v.pop() for kind, v in seen.items()
        }
    return dict(_GROUPS[key])


# ----------------------------------------------------------------------
# the crop and the batch the built pipeline and preprocessor make
# ----------------------------------------------------------------------
IMAGE_HW = {'coco': (480, 640), 'cityscapes': (1024, 2048)}
DRAWS = 4


def synthetic_results(hw, seed):
    """A results dict as LoadImageFromFile leaves it, with two polygon
    instances for LoadAnnotations."""
    h, w = hw
    rng = np.random.RandomState(seed)
    img = rng.randint(0, 256, (h, w, 3)).astype(np.float32)

    def square(x0, y0, s):
        return dict(
            bbox=[x0, y0, x0 + s, y0 + s], bbox_label=0, ignore_flag=0,
            mask=[[x0, y0, x0 + s, y0, x0 + s, y0 + s, x0, y0 + s]])

    return dict(
        img=img, img_shape=(h, w), ori_shape=(h, w), img_id=seed,
        img_path=f'synthetic_{seed}.png',
        instances=[square(w // 4, h // 4, h // 4),
                   square(w // 2, h // 2, h // 3)])


def run_pipeline(pipeline_cfg, hw, seed):
    steps = [t for t in pipeline_cfg if t['type'] != 'LoadImageFromFile']
    transforms = [TRANSFORMS.build(copy.deepcopy(t)) for t in steps]
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    results = synthetic_results(hw, seed)
    for t in transforms:
        results = t(results)
        assert results is not None, f'{t} dropped the synthetic image'
    return results


#: measured shapes, by dataset, pipelines and preprocessor (the 4 splits
#: of a family share them)
_SHAPES = {}


def _shapes(dataset, pipelines, preprocessor_cfg):
    """The ``img_shape`` of each seeded draw of each pipeline; the padded
    ``(h, w)`` of the batch of all draws and of each draw alone (a draw
    smaller than the crop is padded up to it, its masks too: the unlabeled
    views' empty ones included)."""
    hw = IMAGE_HW[dataset]
    packed, crops = [], []
    for pipeline in pipelines:
        for seed in range(DRAWS):
            out = run_pipeline(pipeline, hw, seed)
            packed.append(out)
            samples = out['data_samples']
            samples = samples.values() if isinstance(samples, dict) else \
                [samples]
            crops += [tuple(s.img_shape) for s in samples if s is not None]
    preprocessor = MODELS.build(copy.deepcopy(preprocessor_cfg))
    batch = set()
    # draw i of every pipeline (a labeled and an unlabeled view in stage 2)
    per_draw = [packed[i::DRAWS] for i in range(DRAWS)]
    for items in [packed] + per_draw:
        data = preprocessor(pseudo_collate(items), training=True)
        inputs = data['inputs']
        inputs = inputs.values() if isinstance(inputs, dict) else [inputs]
        batch |= {tuple(x.shape[-2:]) for x in inputs}
    return crops, batch


def crop_and_batch(name, cfg):
    loader = cfg.train_dataloader
    datasets = loader.dataset.datasets if cfg.model.type == 'S4M' else \
        [loader.dataset]
    dataset = name.split('/')[0]
    pipelines = [d.pipeline for d in datasets]
    # a student's preprocessor is by default its detector's, for the three
    # branches
    preprocessor = cfg.model.get('data_preprocessor')
    if preprocessor is None and cfg.model.type == 'S4M':
        preprocessor = multi_branch_preprocessor(cfg.model.detector)
    key = json.dumps([dataset, pipelines, preprocessor], default=str)
    if key not in _SHAPES:
        _SHAPES[key] = _shapes(dataset, pipelines, preprocessor)
    crops, batch = copy.deepcopy(_SHAPES[key])
    assert len(batch) == 1, f'branches padded differently: {batch}'
    crop = (max(h for h, _ in crops), max(w for _, w in crops))
    return dict(crop_hw=crop, batch_hw=batch.pop(), _crops=crops)


# ----------------------------------------------------------------------
# tests
# ----------------------------------------------------------------------
def test_the_table_has_the_16_paper_configs():
    assert len(PAPER) == 16
    for name in PAPER:
        assert osp.isfile(osp.join(REPO, 'configs/s4m', name)), name


@pytest.mark.parametrize('name', sorted(PAPER))
def test_paper_recipe(name):
    got = recipe(name)
    crops = got.pop('_crops')
    expected = PAPER[name]
    wrong = [
        f'  {k}: config {got.get(k, "<missing>")!r}, paper {v!r}'
        for k, v in expected.items() if got.get(k, '<missing>') != v
    ]
    unpinned = sorted(set(got) - set(expected))
    assert not wrong and not unpinned, '\n'.join(
        [f'{name} differs from the paper\'s recipe:'] + wrong +
        ([f'  read but not pinned: {unpinned}'] if unpinned else []))
    if name.startswith('cityscapes/'):
        # every draw, not only the largest, is the paper's crop
        assert set(crops) == {(512, 1024)}, set(crops)
    else:
        assert all(h <= 1024 and w <= 1024 for h, w in crops), crops
