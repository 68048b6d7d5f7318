# Copyright (c) s4m-mm authors. All rights reserved.
"""The package's layers (docs/architecture.md): every ``s4m_mm/**/*.py``
parsed with ``ast``, its imports of ``s4m_mm`` modules resolved (absolute
``s4m_mm.x.y``, ``from s4m_mm import x``, relative ``from ..x import y``,
at module level or inside a function), and each checked to point to its
own layer or a lower one; the subpackages import each other without a
cycle. A failure names the file, the line and the import."""
import ast
import os
import os.path as osp
from typing import Dict, Iterator, List, Tuple

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
ROOT = '<root>'  # s4m_mm/__init__.py, which imports the library
#: lowest first; a module may import its own layer and those below
LAYERS = (
    ('registry', 'version', 'utils', 'structures'),
    ('datasets', 'models', 'evaluation'),
    ('engine', ),
    (ROOT, ),
    ('analysis', 'demo', 'testing'),
)
RANK = {part: i for i, layer in enumerate(LAYERS) for part in layer}


def module_name(package_dir: str, path: str) -> str:
    """``s4m_mm/models/sam/frame.py`` -> ``s4m_mm.models.sam.frame``; a
    package's ``__init__.py`` -> the package."""
    rel = osp.relpath(path, osp.dirname(package_dir))[:-3]
    parts = rel.split(os.sep)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def is_module(package_dir: str, name: str) -> bool:
    """Whether the dotted ``name`` is a module or package file."""
    base = osp.join(osp.dirname(package_dir), *name.split('.'))
    return osp.isfile(base + '.py') or osp.isfile(
        osp.join(base, '__init__.py'))


def imported_modules(package_dir: str,
                     path: str) -> Iterator[Tuple[int, str, str]]:
    """``(line, module, source text)`` of each import of the package
    (named by ``package_dir``'s basename) in the file ``path``; ``from P
    import n`` counts as importing ``P.n`` where that is a module."""
    top = osp.basename(package_dir)
    name = module_name(package_dir, path)
    is_init = osp.basename(path) == '__init__.py'
    package = name if is_init else name.rpartition('.')[0]
    with open(path) as f:
        source = f.read()
    for node in ast.walk(ast.parse(source, path)):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        text = ast.get_source_segment(source, node)
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, text
            continue
        if node.level:
            parts = package.split('.')
            if node.level - 1 >= len(parts):
                raise ValueError(f'{path}:{node.lineno}: {text} goes above '
                                 f'the package {top}')
            base = '.'.join(parts[:len(parts) - (node.level - 1)])
            base += f'.{node.module}' if node.module else ''
        else:
            base = node.module
        for alias in node.names:
            sub = f'{base}.{alias.name}'
            yield node.lineno, (sub if is_module(package_dir, sub) else
                                base), text


def part_of(module: str) -> str:
    """The layer name of ``s4m_mm...`` module: its first subpackage or
    top-level module, :data:`ROOT` for the package itself."""
    parts = module.split('.')
    return parts[1] if len(parts) > 1 else ROOT


def package_imports(package_dir: str) -> List[Tuple[str, int, str, str]]:
    """``(file, line, imported module, source)`` of every import of the
    package inside it, files relative to the package's parent."""
    top = osp.basename(package_dir)
    found = []
    for folder, _, files in sorted(os.walk(package_dir)):
        for file in sorted(files):
            if not file.endswith('.py'):
                continue
            path = osp.join(folder, file)
            rel = osp.relpath(path, osp.dirname(package_dir))
            for line, module, text in imported_modules(package_dir, path):
                if module == top or module.startswith(top + '.'):
                    found.append((rel, line, module, text))
    return found


def upward_imports(package_dir: str) -> List[str]:
    """One message per import of a higher layer than the file's."""
    bad = []
    for rel, line, module, text in package_imports(package_dir):
        src = part_of(module_name(package_dir,
                                  osp.join(osp.dirname(package_dir), rel)))
        dst = part_of(module)
        if RANK[dst] > RANK[src]:
            bad.append(f'{rel}:{line}: {text!r} imports {module} (layer '
                       f'{RANK[dst]}, {dst}) from layer {RANK[src]} ({src})')
    return bad


def part_cycles(package_dir: str) -> List[str]:
    """The cycles of imports between the package's parts, each with one
    import per edge."""
    edges: Dict[str, Dict[str, str]] = {}
    for rel, line, module, text in package_imports(package_dir):
        src = part_of(module_name(package_dir,
                                  osp.join(osp.dirname(package_dir), rel)))
        dst = part_of(module)
        if ROOT not in (src, dst) and src != dst:
            edges.setdefault(src, {}).setdefault(dst, f'{rel}:{line}: '
                                                 f'{text!r}')
    cycles, path = [], []

    def visit(node):
        if node in path:
            loop = path[path.index(node):]
            first = loop.index(min(loop))  # one text per cycle
            loop = loop[first:] + loop[:first] + [min(loop)]
            cycles.append(' -> '.join(loop) + ': ' + '; '.join(
                edges[a][b] for a, b in zip(loop, loop[1:])))
            return
        path.append(node)
        for nxt in sorted(edges.get(node, {})):
            visit(nxt)
        path.pop()

    for start in sorted(edges):
        visit(start)
    return sorted(set(cycles))


PACKAGE = osp.join(REPO, 's4m_mm')


def test_every_part_has_a_layer():
    parts = {name[:-3] if name.endswith('.py') else name
             for name in os.listdir(PACKAGE)
             if (name.endswith('.py') and name != '__init__.py')
             or osp.isfile(osp.join(PACKAGE, name, '__init__.py'))}
    missing = sorted(parts - set(RANK))
    assert not missing, (f'{missing}: parts of s4m_mm/ in no layer of '
                         'tests/test_package_layers.py LAYERS')


def test_layers_import_downwards_only():
    bad = upward_imports(PACKAGE)
    assert not bad, 'upward imports:\n' + '\n'.join(bad)


def test_parts_import_without_cycles():
    cycles = part_cycles(PACKAGE)
    assert not cycles, 'import cycles:\n' + '\n'.join(cycles)


def test_the_graph_is_seen():
    # the checks see imports the package has today: the engine's of the
    # models, the analysis' lazy one of the engine, the demo's relative
    # ones, the root's of the library
    seen = {(part_of(module_name(PACKAGE, osp.join(REPO, rel))),
             part_of(module)) for rel, _, module, _ in
            package_imports(PACKAGE)}
    assert {('engine', 'models'), ('analysis', 'engine'),
            ('demo', 'demo'), (ROOT, 'engine')} <= seen


def write(path, text=''):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


@pytest.fixture
def toy(tmp_path):
    """A package ``s4m_mm`` in ``tmp_path`` with utils, engine, models."""
    pkg = str(tmp_path / 's4m_mm')
    write(osp.join(pkg, '__init__.py'), 'from . import engine\n')
    for part in ('utils', 'engine', 'models'):
        write(osp.join(pkg, part, '__init__.py'))
    write(osp.join(pkg, 'engine', 'hooks.py'))
    write(osp.join(pkg, 'models', 'heads.py'))
    return pkg


def test_absolute_and_relative_imports_resolved(toy):
    write(osp.join(toy, 'utils', 'a.py'),
          'import os\n'
          'from s4m_mm.engine import hooks\n'
          'from ..models.heads import Head\n'
          'def f():\n'
          '    from .. import models\n'
          '    import s4m_mm.engine.hooks\n')
    got = [(line, module) for rel, line, module, _ in package_imports(toy)
           if rel.endswith('a.py')]
    # module level first, then inside the function (ast.walk's order)
    assert got == [(2, 's4m_mm.engine.hooks'), (3, 's4m_mm.models.heads'),
                   (5, 's4m_mm.models'), (6, 's4m_mm.engine.hooks')]


def test_an_upward_import_is_named(toy):
    write(osp.join(toy, 'utils', 'a.py'), 'from s4m_mm.models import x\n'
          'from ..engine.hooks import Hook\n')
    bad = upward_imports(toy)
    assert bad == [
        "s4m_mm/utils/a.py:1: 'from s4m_mm.models import x' imports "
        's4m_mm.models (layer 1, models) from layer 0 (utils)',
        "s4m_mm/utils/a.py:2: 'from ..engine.hooks import Hook' imports "
        's4m_mm.engine.hooks (layer 2, engine) from layer 0 (utils)']
    # the root imports engine: fine from above, upward from the engine
    write(osp.join(toy, 'engine', 'b.py'), 'import s4m_mm\n')
    assert any(m.startswith("s4m_mm/engine/b.py:1: 'import s4m_mm' "
                            'imports s4m_mm (layer 3, <root>)')
               for m in upward_imports(toy))


def test_a_cycle_is_named(toy):
    write(osp.join(toy, 'models', 'c.py'), 'from ..utils import a\n')
    write(osp.join(toy, 'utils', 'a.py'), 'from s4m_mm.models import c\n')
    assert part_cycles(toy) == [
        "models -> utils -> models: s4m_mm/models/c.py:1: "
        "'from ..utils import a'; "
        "s4m_mm/utils/a.py:1: 'from s4m_mm.models import c'"]
