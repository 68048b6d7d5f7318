# Copyright (c) s4m-mm authors. All rights reserved.
"""S4M for MMDetection 3.x.

Importing this package registers its modules into mmdet's registries, so that a
config with ``custom_imports = dict(imports=['s4m_mm'])`` and
``default_scope = 'mmdet'`` runs with this repository's tools and with mmdet's
own ``tools/train.py`` alike. Configs elsewhere inherit this package's
configs as ``_base_ = 's4m_mm::s4m/...'`` (see ``_s4m_mm_scheme``).
"""
from .version import __version__
from . import evaluation, structures  # noqa: F401,E402
from .utils import checkpoint_compat  # noqa: F401  (mmengine + torch>=2.6)
from .utils import cityscapes_compat  # noqa: F401  (numpy >= 2.4)
from . import datasets, engine, models  # noqa: F401,E402  (registration)
from . import registry  # noqa: F401,E402  (the s4m_mm scope)

try:  # the s4m_mm:: config scheme, also where the .pth file is missing
    import _s4m_mm_scheme  # noqa: F401,E402
except ImportError:  # s4m_mm on PYTHONPATH, not installed
    pass

__all__ = ['__version__']
