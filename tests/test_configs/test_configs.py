# Copyright (c) s4m-mm authors. All rights reserved.
"""Every config under configs/s4m loads, builds its model, and fails clearly
without its data or weights."""
import functools
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet.registry import DATASETS, MODELS
from s4m_mm.engine.runner import apply_custom_settings
from s4m_mm.testing import get_repo_root, tiny_sam_cfg

REPO = get_repo_root()
# runnable configs (the custom ones once given custom_settings)
CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO, 'configs/s4m/**/*.py'),
                         recursive=True)
    if '/_base_/' not in p and 'custom_settings' not in osp.basename(p))


def rel(path):
    return osp.relpath(path, REPO)


def is_custom(path):
    return '/custom/' in path


def load(path, custom_settings=None):
    """The config; a custom one with ``custom_settings`` (and a teacher
    checkpoint) filled in as S4MRunner does."""
    cfg = Config.fromfile(path)
    if is_custom(path) and custom_settings is not None:
        cfg.merge_from_dict(
            dict(
                custom_settings=dict(
                    custom_settings, teacher_checkpoint='teacher.pth')))
        cfg = apply_custom_settings(cfg)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return cfg


def test_there_are_configs():
    assert CONFIGS


@pytest.mark.parametrize('path', CONFIGS, ids=rel)
def test_config_declares_imports_and_scope(path):
    cfg = load(path)
    assert cfg.default_scope == 'mmdet'
    assert 's4m_mm' in cfg.custom_imports['imports']
    assert cfg.custom_imports['allow_failed_imports'] is False


@pytest.mark.parametrize(
    'path', [p for p in CONFIGS if '/demo/' in p], ids=rel)
def test_demo_configs_are_seeded(path):
    """``make demo`` twice prints the same table only if every stage it
    trains draws from a fixed seed (mmengine draws a random one when
    ``randomness.seed`` is None)."""
    cfg = load(path)
    assert isinstance(cfg.get('randomness', {}).get('seed'), int), rel(path)


TINY_SAM = tiny_sam_cfg(img_size=128)


def with_buildable_sam(cfg):
    """Configs whose SAM checkpoint is not on this machine (SAM 2 and SAM 1
    ViTs, for distillation or refinement) get a tiny random SAM, after
    checking that the real one fails naming the file and where to get
    it."""
    owners = [cfg.model, cfg.model.get('refiner') or {}]
    for owner in owners:
        sam = owner.get('sam')
        if sam is None or sam.get('random_init') or \
                (sam.get('checkpoint') or '').startswith('pkg://') or \
                sam.type == 'LiteMedSAMAdapter':
            continue
        with pytest.raises(FileNotFoundError) as err:
            MODELS.build(sam)
        msg = str(err.value)
        assert sam.checkpoint in msg and 'https://dl.fbaipublicfiles.com/' \
            in msg and osp.basename(sam.checkpoint) in msg, msg
        owner['sam'] = TINY_SAM
    return cfg


PAPER_STUDENT = 'configs/s4m/coco/s4m-student_r50_4xb6-368750iter_coco-1pct.py'


def test_paper_configs_use_sam2_hiera_l():
    """The paper's SAM: SAM 2.0 Hiera-L (a random one here, the weights
    are not reachable), 1024 px input, a 64 x 64 grid."""
    cfg = load(osp.join(REPO, PAPER_STUDENT))
    sam_cfg = dict(cfg.model.refiner.sam, checkpoint=None, random_init=True)
    sam = MODELS.build(sam_cfg)
    assert type(sam).__name__ == 'SAM2Adapter'
    assert (sam.sam_type, sam.img_size, sam.embed_size) == (
        'sam2_hiera_l', 1024, (64, 64))
    trunk = sam.sam.image_encoder.trunk
    assert trunk.patch_embed.proj.weight.shape[0] == 144  # Hiera-L's width
    assert len(trunk.blocks) == 48


def test_sam1_vit_h_is_one_line_away(tmp_path):
    """``model = dict(refiner=dict(sam=_base_.sam_vit_h))`` (student) and
    ``model = dict(sam=_base_.sam_vit_h)`` (teacher) in a child config give
    a clean SAM 1 ViT-H config, no SAM 2 key left behind."""
    teacher = PAPER_STUDENT.replace('student_r50_4xb6', 'teacher_r50_2xb8')
    expected = dict(type='SAMAdapter', sam_type='vit_h',
                    checkpoint='data/pretrained/sam_vit_h_4b8939.pth')
    for base, line, owner in (
            (PAPER_STUDENT, 'model = dict(refiner=dict(sam=_base_.sam_vit_h))',
             lambda c: c.model.refiner.sam),
            (teacher, 'model = dict(sam=_base_.sam_vit_h)',
             lambda c: c.model.sam)):
        child = tmp_path / 'vit_h.py'
        child.write_text(f'_base_ = [{osp.join(REPO, base)!r}]\n{line}\n')
        assert dict(owner(load(str(child)))) == expected


def num_params(model):
    return sum(p.numel() for p in model.parameters())


def with_num_classes(cfg, num_classes):
    """A Mask2Former instance model config with ``num_classes`` things."""
    cfg.panoptic_head.num_things_classes = num_classes
    cfg.panoptic_head.loss_cls.class_weight = [1.0] * num_classes + [0.1]
    cfg.panoptic_fusion_head.num_things_classes = num_classes
    return cfg


@functools.lru_cache()
def mmdet_mask2former_r50_params(num_classes):
    """Parameters of mmdet's own Mask2Former R-50 instance model
    (``mask2former_r50_8xb2-lsj-50e_coco.py``) for ``num_classes``."""
    import mmdet
    cfg = Config.fromfile(
        osp.join(osp.dirname(mmdet.__file__), '.mim/configs/mask2former/'
                 'mask2former_r50_8xb2-lsj-50e_coco.py')).model
    init_default_scope('mmdet')
    return num_params(MODELS.build(with_num_classes(cfg, num_classes)))


@functools.lru_cache()
def demo_mask2former_params(num_classes):
    """Parameters of the demo's plain Mask2Former (EfficientNet-Lite0) for
    ``num_classes``."""
    cfg = load(osp.join(REPO, 'configs/s4m/demo/'
                        'mask2former_effl0_nuclei_sup.py'))
    cfg.model.backbone.checkpoint = None
    return num_params(MODELS.build(with_num_classes(cfg.model, num_classes)))


#: mmdet's own config of each detector that is not a Mask2Former, whose
#: model the configs of that detector build (with their classes)
MMDET_MODELS = {
    'MaskRCNN': 'mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    'RTMDet': 'rtmdet/rtmdet-ins_s_8xb32-300e_coco.py',
}


def detector_num_classes(detector_cfg):
    """The classes of a Mask2Former, Mask R-CNN or RTMDet-Ins config."""
    if 'panoptic_head' in detector_cfg:
        return len(detector_cfg.panoptic_head.loss_cls['class_weight']) - 1
    if 'roi_head' in detector_cfg:
        roi = detector_cfg.roi_head
        assert roi.bbox_head.num_classes == roi.mask_head.num_classes
        return roi.bbox_head.num_classes
    return detector_cfg.bbox_head.num_classes


def built_num_classes(detector):
    if hasattr(detector, 'panoptic_head'):
        return detector.panoptic_head.num_classes
    if hasattr(detector, 'roi_head'):
        return detector.roi_head.bbox_head.num_classes
    return detector.bbox_head.num_classes


@functools.lru_cache()
def mmdet_model_params(detector_type, num_classes):
    """Parameters of mmdet's own model of ``MMDET_MODELS`` for
    ``num_classes`` (no weights read)."""
    import mmdet
    cfg = Config.fromfile(
        osp.join(osp.dirname(mmdet.__file__), '.mim/configs',
                 MMDET_MODELS[detector_type])).model
    cfg.backbone.init_cfg = None
    if detector_type == 'MaskRCNN':
        cfg.roi_head.bbox_head.num_classes = num_classes
        cfg.roi_head.mask_head.num_classes = num_classes
    else:
        cfg.bbox_head.num_classes = num_classes
    init_default_scope('mmdet')
    return num_params(MODELS.build(cfg))


#: the demo's plain detector of each type beside Mask2Former
DEMO_PLAIN = dict(MaskRCNN='configs/s4m/demo/mask-rcnn_effl0_nuclei_sup.py',
                  RTMDet='configs/s4m/demo/rtmdet-ins_effl0_nuclei_sup.py')


@functools.lru_cache()
def demo_plain_params(detector_type):
    """Parameters of the demo's plain Mask R-CNN or RTMDet-Ins
    (EfficientNet-Lite0), the stage-1 teacher of its S4M student."""
    cfg = load(osp.join(REPO, DEMO_PLAIN[detector_type]))
    cfg.model.backbone.checkpoint = None
    return num_params(MODELS.build(cfg.model))


@pytest.mark.parametrize('path', CONFIGS, ids=rel)
def test_config_builds_its_model(path, own_data):
    cfg = with_buildable_sam(load(path, own_data))
    model = MODELS.build(cfg.model)
    detector_cfg = cfg.model.get('detector', cfg.model)
    num_classes = detector_num_classes(detector_cfg)
    assert built_num_classes(getattr(model, 'student', model)) == num_classes
    # the parameters of one detector, twice for S4M (teacher and student);
    # SAM and the SD head add none: the R-50 Mask2Former configs have
    # exactly those of mmdet's own Mask2Former R-50, the Mask R-CNN and
    # RTMDet-Ins configs those of mmdet's own model (MMDET_MODELS), the
    # demo's those of its baseline (and the custom EfficientNet-Lite0
    # configs those of the same model for their classes), whose backbone is
    # timm's EfficientNet-Lite0 features
    copies = 2 if cfg.model.type == 'S4M' else 1
    if detector_cfg.type in MMDET_MODELS and '/demo/' not in path:
        expected = mmdet_model_params(detector_cfg.type, num_classes)
    elif '/demo/' in path and detector_cfg.type in DEMO_PLAIN:
        expected = demo_plain_params(detector_cfg.type)
    elif '/demo/' in path or 'effl0' in path:
        expected = demo_mask2former_params(num_classes)
        if cfg.model.type == 'Mask2Former':
            import timm
            features = timm.create_model(
                'tf_efficientnet_lite0', pretrained=False,
                features_only=True, out_indices=(1, 2, 3, 4))
            assert num_params(model.backbone) == num_params(features)
    else:
        expected = mmdet_mask2former_r50_params(num_classes)
    assert num_params(model) == copies * expected


@pytest.mark.parametrize('path', CONFIGS, ids=rel)
def test_missing_data_fails_with_the_path_and_a_hint(path, tmp_path,
                                                     own_data):
    if is_custom(path):  # the settings name the data: checked first
        settings = dict(own_data, data_root=str(tmp_path) + '/')
        with pytest.raises(FileNotFoundError) as e:
            load(path, settings)
        assert osp.join(str(tmp_path), own_data['labeled_ann']) in str(
            e.value)
        assert 'custom_settings.labeled_ann' in str(e.value)
        return
    cfg = load(path)
    ds_cfg = cfg.train_dataloader.dataset.copy()
    if ds_cfg.type == 'ConcatDataset':  # stage 2: labeled + unlabeled
        ds_cfg = ds_cfg.datasets[0]
    ds_cfg.data_root = str(tmp_path) + '/'
    with pytest.raises(FileNotFoundError) as e:
        DATASETS.build(ds_cfg)
    assert str(tmp_path) in str(e.value)
    assert 'tools/dataset_converters/' in str(e.value)


def test_r50_configs_need_local_imagenet_weights(own_data):
    paths = [p for p in CONFIGS if '_r50_' in osp.basename(p)]
    for path in paths:
        cfg = load(path, own_data)
        init = cfg.model.get('detector', cfg.model).backbone.init_cfg
        assert init.type == 'CheckedPretrained'
    if paths:
        cfg = with_buildable_sam(load(paths[0], own_data))
        model = MODELS.build(cfg.model)
        with pytest.raises(FileNotFoundError, match='resnet50-0676ba61'):
            model.init_weights()


def test_demo_forward_on_cpu():
    cfg = load(osp.join(REPO,
                        'configs/s4m/demo/mask2former_effl0_nuclei_sup.py'))
    cfg.model.backbone.checkpoint = None
    model = MODELS.build(cfg.model).eval()
    from mmdet.structures import DetDataSample
    sample = DetDataSample(metainfo=dict(
        img_shape=(256, 256), ori_shape=(128, 128), scale_factor=(2., 2.),
        batch_input_shape=(256, 256), pad_shape=(256, 256)))
    with torch.no_grad():
        (res, ) = model.predict(torch.rand(1, 3, 256, 256), [sample])
    masks = res.pred_instances.masks
    assert masks.shape[1:] == (128, 128)
    assert len(res.pred_instances.scores) <= cfg.model.test_cfg.max_per_image
