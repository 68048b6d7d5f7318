# Copyright (c) s4m-mm authors. All rights reserved.
"""configs/s4m/metafile.yml (mmdet's model index) lists the 16 paper
configs with their schedule and the paper's mask AP, as the README's
results tables do."""
import os.path as osp
import re

import yaml
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def readme_results():
    """``{config path: mask AP}`` from the README's results tables."""
    with open(osp.join(REPO, 'configs/s4m/README.md')) as f:
        text = f.read()
    rows = re.findall(
        r'^\| \d+ % \| \[config\]\(([^)]+)\) \| ([\d.]+) \| '
        r'\[config\]\(([^)]+)\) \| ([\d.]+) \|$', text, flags=re.M)
    out = {}
    for teacher, t_ap, student, s_ap in rows:
        out[f'configs/s4m/{teacher}'] = float(t_ap)
        out[f'configs/s4m/{student}'] = float(s_ap)
    return out


def test_metafile_lists_the_paper_configs_as_the_readme():
    with open(osp.join(REPO, 'configs/s4m/metafile.yml')) as f:
        meta = yaml.safe_load(f)
    assert [c['Name'] for c in meta['Collections']] == ['S4M']
    models = meta['Models']
    readme = readme_results()
    assert len(models) == len(readme) == 16
    for model in models:
        path = model['Config']
        assert model['Name'] == osp.splitext(osp.basename(path))[0]
        assert model['In Collection'] == 'S4M'
        assert 'Weights' not in model  # none trained here
        cfg = Config.fromfile(osp.join(REPO, path))
        assert model['Metadata']['Iterations'] == cfg.train_cfg.max_iters
        (result, ) = model['Results']
        assert result['Dataset'] == ('COCO' if '/coco/' in path else
                                     'Cityscapes')
        assert result['Metrics']['mask AP'] == readme[path], path
