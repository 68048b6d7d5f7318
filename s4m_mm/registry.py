# Copyright (c) s4m-mm authors. All rights reserved.
"""The ``s4m_mm`` registry scope: one child of each of mmdet's registries.

This package registers its modules into mmdet's registries (so configs in
the ``mmdet`` scope and mmdet's own tools build them). A config inherited
through ``s4m_mm::`` gets mmengine's ``_scope_='s4m_mm'``; these empty
children make that scope resolve: a type is looked up here, then in mmdet,
then in mmengine, and building in this scope imports ``s4m_mm`` first (so
its modules are registered even without ``custom_imports``).
"""
import mmdet.registry as mmdet_registry
from mmengine.registry import Registry

SCOPE = 's4m_mm'


def _child(name: str) -> Registry:
    parent = getattr(mmdet_registry, name)
    return Registry(
        parent.name, parent=parent, scope=SCOPE, locations=['s4m_mm'])


RUNNERS = _child('RUNNERS')
RUNNER_CONSTRUCTORS = _child('RUNNER_CONSTRUCTORS')
LOOPS = _child('LOOPS')
HOOKS = _child('HOOKS')
DATASETS = _child('DATASETS')
DATA_SAMPLERS = _child('DATA_SAMPLERS')
TRANSFORMS = _child('TRANSFORMS')
MODELS = _child('MODELS')
MODEL_WRAPPERS = _child('MODEL_WRAPPERS')
WEIGHT_INITIALIZERS = _child('WEIGHT_INITIALIZERS')
OPTIMIZERS = _child('OPTIMIZERS')
OPTIM_WRAPPERS = _child('OPTIM_WRAPPERS')
OPTIM_WRAPPER_CONSTRUCTORS = _child('OPTIM_WRAPPER_CONSTRUCTORS')
PARAM_SCHEDULERS = _child('PARAM_SCHEDULERS')
METRICS = _child('METRICS')
EVALUATOR = _child('EVALUATOR')
TASK_UTILS = _child('TASK_UTILS')
VISUALIZERS = _child('VISUALIZERS')
VISBACKENDS = _child('VISBACKENDS')
LOG_PROCESSORS = _child('LOG_PROCESSORS')
