# Copyright (c) s4m-mm authors. All rights reserved.
"""The component study of S4M on the nuclei demo
(``tools/analysis/component_study.py``, its command line), by concept:

- :mod:`~s4m_mm.analysis.component_study.plan`: the rows and their
  configs, the ``(fold, seed)`` runs, their folders, splits and training
  options;
- :mod:`~s4m_mm.analysis.component_study.runs`: one run (its fold's data,
  training, export, test) and the files it writes (``train.json``,
  ``result.json``);
- :mod:`~s4m_mm.analysis.component_study.teachers`: the loop over the
  runs, and a student's teacher (refused when gone, or trained again and
  checked with ``--retrain-teachers``);
- :mod:`~s4m_mm.analysis.component_study.statistics`: mean / std / sem,
  AP pooled over folds, paired differences, Student's t thresholds, the
  summary;
- :mod:`~s4m_mm.analysis.component_study.report`,
  :mod:`~s4m_mm.analysis.component_study.figures`: the printed tables and
  the figures;
- :mod:`~s4m_mm.analysis.component_study.readme`,
  :mod:`~s4m_mm.analysis.component_study.publish`: the results README
  written from a summary, and ``--publish DIR`` (README, the summary's
  small part, the figures).

Like the rest of :mod:`s4m_mm.analysis` it sits on top of the library
(``tests/test_package_layers.py``); its modules are imported one by one.
"""
