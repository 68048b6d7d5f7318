# Copyright (c) s4m-mm authors. All rights reserved.
"""The nuclei demo: its data and its stages, above the library it drives.

- :mod:`~s4m_mm.demo.nuclei_data`: the demo data, tiles of the stardist
  wheel's fluorescence image as COCO files (``pip download`` of the wheel
  once), the k-fold split of the component study, the own-data layout;
- :mod:`~s4m_mm.demo.commands`: the repository's tools as the subprocesses
  a user would type (train, export, test);
- :mod:`~s4m_mm.demo.stages`: the demo's stages and :func:`run_demo`
  (``tools/run_demo.py``, ``make demo``);
- :mod:`~s4m_mm.demo.training_log`, :mod:`~s4m_mm.demo.table`: the
  pseudo-label quality a training logged, the printed table.

Nothing in the library imports this package (``tests/test_package_layers.py``
fails on an import of it from below). The stages run the tools of the
source checkout, so the demo needs s4m-mm installed from it (``pip install
-e .``).
"""
from .commands import (BASELINE, MEAN_TEACHER, ROOT, STUDENT, TEACHER,
                       data_options, evaluate, last_checkpoint, prepare_data,
                       run_command, train)
from .stages import STAGES, run_demo, run_stage
from .table import REPORTED, print_table
from .training_log import logged_pseudo_label_quality

__all__ = [
    'BASELINE', 'MEAN_TEACHER', 'REPORTED', 'ROOT', 'STAGES', 'STUDENT',
    'TEACHER', 'data_options', 'evaluate', 'last_checkpoint',
    'logged_pseudo_label_quality', 'prepare_data', 'print_table', 'run_demo',
    'run_stage', 'run_command', 'train'
]
