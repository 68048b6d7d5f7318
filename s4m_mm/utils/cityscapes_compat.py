# Copyright (c) s4m-mm authors. All rights reserved.
"""Let cityscapesscripts 2.3.0 evaluate under NumPy >= 2.4.

The Cityscapes instance evaluator (``cityscapesscripts.evaluation.
evalInstanceLevelSemanticLabeling.assignGt2Preds``, used by mmdet's
``CityScapesMetric``) calls ``np.in1d``, which NumPy 2.0 deprecated and 2.4
removed: the first Cityscapes validation would fail with ``AttributeError:
module 'numpy' has no attribute 'in1d'`` after hours of training.

Where NumPy lacks it, ``np.in1d`` is given back with its documented
meaning, the flattened ``np.isin``. Nothing changes on a NumPy that still
has it.
"""
import numpy as np


def in1d(ar1, ar2, assume_unique=False, invert=False, *, kind=None):
    """``np.in1d`` of NumPy < 2.4: ``np.isin(ar1, ar2, ...).ravel()``."""
    return np.isin(
        ar1, ar2, assume_unique=assume_unique, invert=invert,
        kind=kind).ravel()


if not hasattr(np, 'in1d'):
    np.in1d = in1d
