# Copyright (c) s4m-mm authors. All rights reserved.
"""Measuring code, above the models and the engine: what the analysis
tools of ``tools/analysis/`` share.

- :mod:`~s4m_mm.analysis.benchmark`: the config, model, teacher and SAM
  set-up of a benchmark, timing and the report;
- :mod:`~s4m_mm.analysis.flops`: FLOPs of real modules (torch's counter
  plus the CPU's fused attention and bilinear resampling);
- :mod:`~s4m_mm.analysis.cost_model`: the parts of one stage-2 iteration
  and the estimates of their elementwise work;
- :mod:`~s4m_mm.analysis.component_study`: the component study of
  ``tools/analysis/component_study.py`` (its plan, runs, statistics,
  report, results README and publication).

Nothing in the library imports this package (``tests/test_package_layers.py``
fails on an import of it from below); its modules are imported one by one,
e.g. ``from s4m_mm.analysis.benchmark import load_config``, so that a tool
pays only for what it uses.
"""
