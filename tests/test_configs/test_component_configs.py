# Copyright (c) s4m-mm authors. All rights reserved.
"""The students of the component study on the demo: each switches its
components by config lines only, and differs from the demo student in
nothing else."""
import os.path as osp

import pytest
from mmengine.config import Config

from s4m_mm.testing import get_config_path

DEMO = get_config_path('s4m/demo')
ARP, STRONG = 'AdaptiveRandomPaste', 'StrongPhotometricAug'

#: component row -> (SAM refinement, batch augments by name in order)
COMPONENTS = {
    'mean-teacher': (False, [('strong_aug', STRONG)]),
    'refine-only': (True, [('strong_aug', STRONG)]),
    'arp-unrefined': (False, [('arp', ARP), ('strong_aug', STRONG)]),
    'full': (True, [('arp', ARP), ('strong_aug', STRONG)]),
}
#: the component configs' name tag of each demo student -> that student
STUDENTS = {
    '': 's4m-student_effl0_nuclei.py',
    'mask-rcnn_': 's4m-student_mask-rcnn_effl0_nuclei.py',
    'rtmdet-ins_': 's4m-student_rtmdet-ins_effl0_nuclei.py',
}

def switched_on(named):
    """The ``(name, type)`` of a config dict's entries that are not
    ``None`` (switched off), in order."""
    return [(name, item['type']) for name, item in named.items()
            if item is not None]


def without_components(cfg):
    """The config as a dict without what the study switches."""
    out = cfg.to_dict()
    out['model'] = {
        k: v
        for k, v in out['model'].items()
        if k not in ('refiner', 'unsup_batch_augments')
    }
    out['default_hooks'] = {
        k: v
        for k, v in out['default_hooks'].items() if k != 'refine'
    }
    return out


@pytest.mark.parametrize('tag', sorted(STUDENTS))
@pytest.mark.parametrize('row', sorted(COMPONENTS))
def test_component_switches_and_nothing_else(row, tag):
    refine, augments = COMPONENTS[row]
    cfg = Config.fromfile(
        osp.join(DEMO, 'components', f's4m-{row}_{tag}effl0_nuclei.py'))
    demo = Config.fromfile(osp.join(DEMO, STUDENTS[tag]))
    assert (cfg.model.refiner is not None) == refine
    assert switched_on(cfg.model.unsup_batch_augments) == augments
    hooks = switched_on(cfg.default_hooks)
    # the refine hook goes with the refiner; quality measured for every run
    assert (('refine', 'PseudoLabelRefineHook') in hooks) == refine
    assert ('pseudo_label_quality', 'PseudoLabelQualityHook') in hooks
    if refine:
        assert cfg.model.refiner == demo.model.refiner
    if ('arp', ARP) in augments:
        assert cfg.model.unsup_batch_augments == \
            demo.model.unsup_batch_augments
    assert without_components(cfg) == without_components(demo)
    assert cfg.randomness.seed == 0
