# Copyright (c) s4m-mm authors. All rights reserved.
"""Teach mmengine the ``s4m_mm::`` config scheme, as it knows ``mmdet::``.

mmengine resolves ``_base_ = 'pkg::path'`` only for the packages in its
``MODULE2PACKAGE`` table, and it parses a config before the config's
``custom_imports`` run, so a config outside this repository that inherits
``s4m_mm::s4m/...`` would fail with mmdet's own ``tools/train.py``. The
``_s4m_mm_scheme.pth`` file installed beside this module imports it when
Python starts; it imports nothing itself and, the first time
``mmengine.config.config`` is imported, registers the scheme:

- ``MODULE2PACKAGE['s4m_mm'] = 's4m-mm'``;
- the package's installed path is that of the importable ``s4m_mm``
  package (mmengine's own lookup misses editable installs), whose
  ``.mim/configs`` holds the configs.

It changes nothing else: other packages' paths go through mmengine's
lookup unchanged.
"""
import importlib.abc
import importlib.machinery
import importlib.util
import os.path as osp
import sys

SCHEME = 's4m_mm'
DISTRIBUTION = 's4m-mm'
_TARGET = 'mmengine.config.config'


def package_path() -> str:
    """The directory of the importable ``s4m_mm`` package (not imported)."""
    spec = importlib.util.find_spec(SCHEME)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            f'{SCHEME}:: configs: the {SCHEME} package is not importable; '
            f'install it (`pip install -e .` in its repository)')
    return osp.dirname(spec.origin)


def register(config_module) -> None:
    """Add the scheme to an imported ``mmengine.config.config``."""
    from mmengine.config import utils
    utils.MODULE2PACKAGE.setdefault(SCHEME, DISTRIBUTION)
    lookup = config_module.get_installed_path
    if getattr(lookup, 'knows_s4m_mm', False):
        return

    def get_installed_path(package: str) -> str:
        if package == DISTRIBUTION:
            return package_path()
        return lookup(package)

    get_installed_path.knows_s4m_mm = True
    config_module.get_installed_path = get_installed_path


class _RegisterOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: it wraps the loader of
    ``mmengine.config.config`` so that :func:`register` runs right after
    that module is executed, then steps aside."""

    def find_spec(self, name, path=None, target=None):
        if name != _TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        self.uninstall()
        exec_module = spec.loader.exec_module

        def exec_and_register(module):
            exec_module(module)
            register(module)

        spec.loader.exec_module = exec_and_register
        return spec

    def uninstall(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)


def install() -> None:
    """Register now if mmengine's config module is already imported, else
    when it is."""
    module = sys.modules.get(_TARGET)
    if module is not None:
        register(module)
    elif not any(isinstance(f, _RegisterOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterOnImport())


install()
