# Copyright (c) s4m-mm authors. All rights reserved.
"""What a student's training logged of its pseudo-labels: the ``plq_*``
scalars of ``PseudoLabelQualityHook`` in mmengine's
``vis_data/scalars.json``."""
import json
import os
import os.path as osp
from typing import Dict


def logged_pseudo_label_quality(stage_dir: str,
                                resumed: bool = False) -> Dict:
    """Mean over the measured iterations of the ``plq_*`` scalars that
    PseudoLabelQualityHook wrote to ``vis_data/scalars.json``:
    ``{stage: {metric: value}}`` for teacher, refined and arp, and
    ``measured_iterations``.

    Read from the last run in ``stage_dir``, or, for a training continued
    with ``--resume`` (``resumed=True``), from every timestamped run in it,
    a step that a later run logged again (the iterations after the resumed
    checkpoint) taking the later run's values.

    Raises:
        ValueError: a line with ``plq_*`` scalars and no ``step``, naming
            the file.
    """
    runs = sorted(d for d in os.listdir(stage_dir)
                  if osp.isfile(osp.join(stage_dir, d, 'vis_data',
                                         'scalars.json')))
    by_step = {}
    for run in runs if resumed else runs[-1:]:
        path = osp.join(stage_dir, run, 'vis_data', 'scalars.json')
        logged = {}
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                plq = {k: v for k, v in record.items()
                       if k.startswith('plq_')}
                if not plq:
                    continue
                if 'step' not in record:
                    raise ValueError(f'{path}: a line with plq_* scalars '
                                     f'and no "step": {line.strip()}')
                logged.setdefault(record['step'], {}).update(plq)
        by_step.update(logged)
    if not by_step:
        return {}
    values = {}
    for step in sorted(by_step):
        for key, value in by_step[step].items():
            values.setdefault(key, []).append(value)
    quality = {}
    for key, series in values.items():
        _, stage, metric = key.split('_', 2)
        quality.setdefault(stage, {})[metric] = sum(series) / len(series)
    quality['measured_iterations'] = max(map(len, values.values()))
    return quality
