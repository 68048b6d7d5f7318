# Copyright (c) s4m-mm authors. All rights reserved.
"""configs/s4m/metafile.yml (mmdet's model index) lists the 16 paper
configs with their schedule and the paper's mask AP, marked as the paper's
(no weights of these configs exist), with each dataset's metric under the
name the config's evaluator reports; README.md, configs/s4m/README.md and
the metafile give the same numbers, and the versions they name agree. The
Mask R-CNN and RTMDet-Ins configs (not in the paper) are listed with their
schedule and no result."""
import os.path as osp
import re

import yaml
from mmengine.config import Config

import s4m_mm
from s4m_mm.testing import get_repo_root

REPO = get_repo_root()

#: the paper's mask AP (arXiv 2504.05301), teacher / student, by dataset
#: and labelled percentage: the numbers every listing must show
PAPER = {
    ('COCO', 1): (15.1, 24.2), ('COCO', 2): (20.3, 28.1),
    ('COCO', 5): (26.1, 32.1), ('COCO', 10): (30.3, 34.6),
    ('Cityscapes', 5): (17.2, 30.1), ('Cityscapes', 10): (22.5, 33.3),
    ('Cityscapes', 20): (29.6, 37.3), ('Cityscapes', 30): (31.9, 37.8),
}


def read(path):
    with open(osp.join(REPO, path)) as f:
        return f.read()


def configs_readme_results():
    """``{config path: mask AP}`` from configs/s4m/README.md's tables."""
    rows = re.findall(
        r'^\| \d+ % \| \[config\]\(([^)]+)\) \| ([\d.]+) \| '
        r'\[config\]\(([^)]+)\) \| ([\d.]+) \|$', read('configs/s4m/README.md'),
        flags=re.M)
    out = {}
    for teacher, t_ap, student, s_ap in rows:
        out[f'configs/s4m/{teacher}'] = float(t_ap)
        out[f'configs/s4m/{student}'] = float(s_ap)
    return out


def readme_paper_table():
    """``{(dataset, percent): (teacher AP, student AP)}`` from README.md."""
    rows = re.findall(
        r'^\| (COCO|Cityscapes) \| (\d+) % \| ([\d.]+) \| ([\d.]+) \|$',
        read('README.md'), flags=re.M)
    return {(d, int(p)): (float(t), float(s)) for d, p, t, s in rows}


def dataset_and_percent(path):
    match = re.search(r'/(coco|cityscapes)/s4m-(teacher|student)_.*-(\d+)pct',
                      path)
    assert match, path
    dataset = 'COCO' if match.group(1) == 'coco' else 'Cityscapes'
    return dataset, match.group(2), int(match.group(3))


def reported_metric(cfg):
    """The name under which the config's test evaluator reports mask AP."""
    evaluator = cfg.test_evaluator
    if evaluator.get('type') == 'NamedEvaluator':
        metric = evaluator.metrics.cityscapes
        assert metric.type == 'CityScapesMetric'
        return 'cityscapes/mAP'
    assert evaluator.type == 'CocoMetric' and 'segm' in evaluator.metric
    return 'coco/segm_mAP'


def load_metafile():
    return yaml.safe_load(read('configs/s4m/metafile.yml'))


def test_the_readmes_show_the_papers_numbers():
    assert readme_paper_table() == PAPER
    configs = configs_readme_results()
    assert len(configs) == 16
    for path, ap in configs.items():
        dataset, stage, percent = dataset_and_percent(path)
        assert ap == PAPER[dataset, percent][stage == 'student'], path


def test_metafile_lists_the_papers_numbers_as_the_papers():
    meta = load_metafile()
    assert [c['Name'] for c in meta['Collections']] == ['S4M']
    models = [m for m in meta['Models'] if 'Paper Results' in m]
    configs = configs_readme_results()
    assert sorted(m['Config'] for m in models) == sorted(configs)
    for model in models:
        path = model['Config']
        assert model['Name'] == osp.splitext(osp.basename(path))[0]
        assert model['In Collection'] == 'S4M'
        # none trained here: nothing that mmdet's index reads as weights
        # of this config and what they measured
        assert 'Weights' not in model and 'Results' not in model, path
        cfg = Config.fromfile(osp.join(REPO, path))
        assert model['Metadata']['Iterations'] == cfg.train_cfg.max_iters
        (result, ) = model['Paper Results']
        dataset, stage, percent = dataset_and_percent(path)
        assert result['Dataset'] == dataset
        assert 'paper' in result['Source'] and 'not weights' in \
            result['Source']
        assert result['Metrics'] == {
            reported_metric(cfg): PAPER[dataset, percent][stage == 'student']
        }, path


#: the folders of configs the paper has no results for (S4M on Mask R-CNN
#: and RTMDet-Ins students): listed in the metafile without any result
NO_RESULT_FOLDERS = ('configs/s4m/coco_mask_rcnn/',
                     'configs/s4m/coco_rtmdet_ins/')


def test_metafile_lists_the_other_detectors_without_results():
    import glob
    models = [m for m in load_metafile()['Models']
              if 'Paper Results' not in m]
    on_disk = sorted(
        osp.relpath(p, REPO) for folder in NO_RESULT_FOLDERS
        for p in glob.glob(osp.join(REPO, folder, '*.py')))
    assert len(on_disk) == 16
    assert sorted(m['Config'] for m in models) == on_disk
    for model in models:
        path = model['Config']
        assert model['Name'] == osp.splitext(osp.basename(path))[0]
        assert model['In Collection'] == 'S4M'
        # no numbers of any kind: nobody has trained these
        assert not {'Weights', 'Results', 'Paper Results'} & set(model), path
        cfg = Config.fromfile(osp.join(REPO, path))
        meta = model['Metadata']
        if 'max_iters' in cfg.train_cfg:
            assert meta['Iterations'] == cfg.train_cfg.max_iters, path
        else:
            assert meta['Epochs'] == cfg.train_cfg.max_epochs, path
        detector = cfg.model.get('detector', cfg.model)
        assert meta['Architecture'] == [
            {'MaskRCNN': 'Mask R-CNN', 'RTMDet': 'RTMDet'}[detector.type]]


def test_versions_named_by_the_metafile_and_changelog_agree():
    code = load_metafile()['Collections'][0]['Code']
    assert code['URL'] == 'https://github.com/cvlab-kaist/S4M'
    # the official commit the recipes are pinned against
    commit = str(code['Version'])
    assert re.fullmatch(r'[0-9a-f]{7,40}', commit), commit
    assert f'commit {commit}' in read('configs/s4m/README.md')
    assert f'commit {commit}' in read('tests/test_configs/test_paper_recipes.py')
    headings = re.findall(r'^## (\d+\.\d+\.\d+)\b', read('CHANGELOG.md'),
                          flags=re.M)
    assert headings and headings[0] == s4m_mm.__version__
