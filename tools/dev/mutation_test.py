# Copyright (c) s4m-mm authors. All rights reserved.
"""Mutation testing of S4M's core method modules against their fast tests.

A habit, not a CI gate: run it after changing a core module or its tests,
read the surviving mutants, and either kill them with a test or explain why
they are equivalent (docs/testing.md).

Each mutant is one small change of one module's source, made on its syntax
tree (the file on disk is never touched):

- ``compare``: ``<`` <-> ``<=``, ``>`` <-> ``>=``, the negations (``<`` ->
  ``>=``, ...), ``==`` <-> ``!=``, ``is`` <-> ``is not``, ``in`` <->
  ``not in``;
- ``arith``: ``+`` <-> ``-``, ``*`` <-> ``/``, ``//`` -> ``*``, ``**`` ->
  ``*``, ``&`` <-> ``|`` (binary operators and augmented assignments);
- ``const``: an int ``n`` -> ``n + 1`` (``1`` -> ``0``), a float ``x`` ->
  ``x + 1``, ``True`` <-> ``False``;
- ``bool``: ``and`` <-> ``or``, ``not x`` -> ``x``, the test of an ``if``,
  ``while`` or conditional expression negated (and, in ``arith``, a unary
  minus removed);
- ``swap``: the first two positional arguments of a call, the two items of
  a pair (``(a, b)``, ``[a, b]``, ``h, w = ...``);
- ``remove``: a statement replaced by ``pass`` (a call, an augmented
  assignment, an assignment to an attribute or an item, a name assigned
  again, a ``raise``).

Docstrings, strings, annotations, decorators, the messages of ``raise``
and logging calls, ``extra_repr`` and lines marked ``# pragma: no mutate``
are left alone.

Mutants run in forked children of one process that imported torch, mmengine
and mmdet once; a child imports ``s4m_mm`` with the mutated module in place
(an import hook) and runs the module's fast tests with ``pytest -x``. A
mutant is killed when a test fails or errors, or when it runs past the time
limit (``--timeout-factor`` x the unmutated run + 10 s). A first, unmutated
run records which lines of the module its tests execute; mutants on other
lines are reported as not covered without running them.

Usage::

    python tools/dev/mutation_test.py                  # every module
    python tools/dev/mutation_test.py --modules sd selection --jobs 2
    python tools/dev/mutation_test.py --list            # modules, tests
    python tools/dev/mutation_test.py --planted tools/dev/planted_bugs.json

``--planted`` runs hand-written mutations instead (a JSON list of
``{"name", "file", "old", "new", "tests"}``: the first occurrence of
``old`` in ``file`` becomes ``new``) and prints, for each, the first failing
test or that it survived. Needs only the packages of ``make test``.
"""
import argparse
import ast
import importlib.abc
import importlib.util
import json
import os
import os.path as osp
import signal
import sys
import tempfile
import time
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: module key -> (source file, fast in-process tests that check it)
MODULES: Dict[str, tuple] = {
    'sd': ('s4m_mm/models/utils/structural_distill.py', [
        'tests/test_models/test_utils/test_structural_distill.py',
        'tests/test_models/test_heads/test_sam_distill_mask2former_head.py',
    ]),
    'sd_head': ('s4m_mm/models/heads/sam_distill_mask2former_head.py', [
        'tests/test_models/test_heads/test_sam_distill_mask2former_head.py',
        'tests/test_models/test_detectors/test_sam_distill_mask2former.py',
    ]),
    'selection': ('s4m_mm/models/utils/pseudo_labels.py', [
        'tests/test_models/test_utils/test_pseudo_labels.py',
        'tests/test_models/test_refiners/test_refiner_prompts.py',
        'tests/test_models/test_data_preprocessors/'
        'test_adaptive_random_paste.py',
    ]),
    'refiner': ('s4m_mm/models/refiners/sam_pseudo_label_refiner.py', [
        'tests/test_models/test_refiners/test_refiner_prompts.py',
        'tests/test_models/test_utils/test_pseudo_labels.py',
    ]),
    'arp': ('s4m_mm/models/data_preprocessors/adaptive_random_paste.py', [
        'tests/test_models/test_data_preprocessors/'
        'test_adaptive_random_paste.py',
        'tests/test_models/test_data_preprocessors/'
        'test_adaptive_random_paste_settings.py',
        'tests/test_evaluation/test_arp_replay.py',
    ]),
    'arp_geometry': ('s4m_mm/models/data_preprocessors/arp_geometry.py', [
        'tests/test_models/test_data_preprocessors/'
        'test_adaptive_random_paste.py',
        'tests/test_models/test_data_preprocessors/'
        'test_adaptive_random_paste_settings.py',
        'tests/test_evaluation/test_arp_replay.py',
    ]),
    'pixels': ('s4m_mm/models/utils/pixels.py', [
        'tests/test_models/test_utils/test_pixels.py',
        'tests/test_models/test_detectors/test_s4m.py',
    ]),
    'sam_precision': ('s4m_mm/models/sam/precision.py', [
        'tests/test_models/test_sam/test_sam_adapter.py',
        'tests/test_models/test_sam/test_sam2_adapter.py',
        'tests/test_models/test_sam/test_sam_decoder_dtype.py',
        'tests/test_models/test_sam/test_sam_precision.py',
    ]),
    'sam_frame': ('s4m_mm/models/sam/frame.py', [
        'tests/test_models/test_sam/test_sam_adapter.py',
        'tests/test_models/test_sam/test_sam2_adapter.py',
        'tests/test_models/test_sam/test_sam_decoder_dtype.py',
        'tests/test_models/test_sam/test_sam_precision.py',
    ]),
    'sam_encoding': ('s4m_mm/models/sam/encoding.py', [
        'tests/test_models/test_sam/test_sam_adapter.py',
        'tests/test_models/test_sam/test_sam2_adapter.py',
        'tests/test_models/test_sam/test_sam_decoder_dtype.py',
        'tests/test_models/test_sam/test_sam_precision.py',
    ]),
    'sam_prompting': ('s4m_mm/models/sam/prompting.py', [
        'tests/test_models/test_sam/test_sam_adapter.py',
        'tests/test_models/test_sam/test_sam2_adapter.py',
        'tests/test_models/test_sam/test_sam_decoder_dtype.py',
        'tests/test_models/test_sam/test_sam_precision.py',
    ]),
    'sam_mask_prediction': ('s4m_mm/models/sam/mask_prediction.py', [
        'tests/test_models/test_sam/test_sam_adapter.py',
        'tests/test_models/test_sam/test_sam2_adapter.py',
        'tests/test_models/test_sam/test_sam_decoder_dtype.py',
        'tests/test_models/test_sam/test_sam_precision.py',
    ]),
    'sam_predictor': ('s4m_mm/models/sam/predictor.py', [
        'tests/test_models/test_sam/test_sam_predictor.py',
        'tests/test_models/test_utils/test_sd_source_frame.py',
        'tests/test_models/test_refiners/test_refiner_source_frame.py',
        'tests/test_models/test_refiners/test_refiner_prompts.py',
    ]),
    'strong_aug': (
        's4m_mm/models/data_preprocessors/strong_photometric_aug.py', [
            'tests/test_models/test_data_preprocessors/'
            'test_strong_photometric_aug.py',
        ]),
    'teacher_schedule': ('s4m_mm/engine/hooks/teacher_schedule_hook.py', [
        'tests/test_engine/test_teacher_schedule_hook.py',
    ]),
    'refine_hook': ('s4m_mm/engine/hooks/pseudo_label_refine_hook.py', [
        'tests/test_engine/test_pseudo_label_refine_hook.py',
    ]),
    's4m': ('s4m_mm/models/detectors/s4m.py', [
        'tests/test_models/test_detectors/test_s4m.py',
    ]),
    # the analysis and demo code above the library
    'benchmark': ('s4m_mm/analysis/benchmark.py', [
        'tests/test_analysis/test_benchmark.py',
    ]),
    'cost_model': ('s4m_mm/analysis/cost_model.py', [
        'tests/test_analysis/test_cost_model.py',
    ]),
    'flops': ('s4m_mm/analysis/flops.py', [
        'tests/test_analysis/test_flops.py',
        'tests/test_analysis/test_cost_model.py',
    ]),
    'study_statistics': ('s4m_mm/analysis/component_study/statistics.py', [
        'tests/test_tools/test_component_study.py',
        'tests/test_analysis/test_component_study_readme.py',
    ]),
    'study_report': ('s4m_mm/analysis/component_study/report.py', [
        'tests/test_tools/test_component_study.py',
        'tests/test_analysis/test_component_study_readme.py',
    ]),
    'study_readme': ('s4m_mm/analysis/component_study/readme.py', [
        'tests/test_analysis/test_component_study_readme.py',
    ]),
    'study_publish': ('s4m_mm/analysis/component_study/publish.py', [
        'tests/test_analysis/test_component_study_readme.py',
    ]),
    'demo_data': ('s4m_mm/demo/nuclei_data.py', [
        'tests/test_demo/test_nuclei_data.py',
        'tests/test_tools/test_component_study.py',
    ]),
    'demo_commands': ('s4m_mm/demo/commands.py', [
        'tests/test_demo/test_stages.py',
    ]),
    'demo_stages': ('s4m_mm/demo/stages.py', [
        'tests/test_demo/test_stages.py',
    ]),
    'demo_table': ('s4m_mm/demo/table.py', [
        'tests/test_demo/test_stages.py',
    ]),
    'demo_training_log': ('s4m_mm/demo/training_log.py', [
        'tests/test_demo/test_stages.py',
        'tests/test_tools/test_component_study.py',
    ]),
}

#: functions whose bodies are not mutated (text for people)
SKIP_FUNCTIONS = ('extra_repr', '__repr__', '_get_init_info')
#: calls whose arguments are messages, not behaviour
MESSAGE_CALLS = ('info', 'warning', 'warn', 'debug', 'error', 'print',
                 'print_log')
#: calls whose first two arguments commute (swapping them is equivalent)
SYMMETRIC_CALLS = ('max', 'min', 'maximum', 'minimum', 'mask_iou', 'equal',
                   'allclose', 'isclose', 'logical_and', 'logical_or',
                   'transpose', 'swapaxes', 'swapdims')
PRAGMA = 'pragma: no mutate'

COMPARE_SWAPS = {
    ast.Lt: (ast.LtE, ast.GtE),
    ast.LtE: (ast.Lt, ast.Gt),
    ast.Gt: (ast.GtE, ast.LtE),
    ast.GtE: (ast.Gt, ast.Lt),
    ast.Eq: (ast.NotEq, ),
    ast.NotEq: (ast.Eq, ),
    ast.Is: (ast.IsNot, ),
    ast.IsNot: (ast.Is, ),
    ast.In: (ast.NotIn, ),
    ast.NotIn: (ast.In, ),
}
ARITH_SWAPS = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Pow: ast.Mult,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
}


class Mutant(NamedTuple):
    """One change of a module's source.

    Attributes:
        index (int): its number within the module.
        operator (str): its operator family (see the module docstring).
        lineno (int): first line of the changed code.
        lines (tuple[int, int]): lines of the enclosing statement, to
            decide whether the tests execute it.
        start (tuple[int, int]): ``(line, col)`` where the edit starts.
        end (tuple[int, int]): ``(line, col)`` where it ends.
        before (str): the replaced source text.
        after (str): its replacement.
    """
    index: int
    operator: str
    lineno: int
    lines: tuple
    start: tuple
    end: tuple
    before: str
    after: str

    def describe(self) -> str:
        def one_line(text):
            text = ' '.join(text.split())
            return text if len(text) <= 70 else text[:67] + '...'

        return (f'line {self.lineno} [{self.operator}] '
                f'{one_line(self.before)}  ->  {one_line(self.after)}')


# ----------------------------------------------------------------------
# mutant generation
# ----------------------------------------------------------------------
def _line_offsets(source: str) -> List[int]:
    offsets, total = [0], 0
    for line in source.splitlines(keepends=True):
        total += len(line)
        offsets.append(total)
    return offsets


def _is_docstring(node: ast.AST, parent: Optional[ast.AST]) -> bool:
    return (isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


class _Collector(ast.NodeVisitor):
    """Walk a module and collect mutation sites."""

    def __init__(self, source: str):
        self.source = source
        self.lines = source.splitlines()
        self.edits: List[tuple] = []
        self._stmt: Optional[ast.stmt] = None
        self._assigned: List[set] = [set()]

    # ---------------------------------------------------------- helpers
    def _segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ''

    def _skipped_line(self, lineno: int) -> bool:
        return PRAGMA in self.lines[lineno - 1]

    def _add(self, operator: str, node: ast.AST, after: str,
             before: Optional[str] = None) -> None:
        if self._skipped_line(node.lineno):
            return
        before = self._segment(node) if before is None else before
        if not before or after == before:
            return
        stmt = self._stmt or node
        self.edits.append(
            (operator, node.lineno, (stmt.lineno, stmt.end_lineno),
             (node.lineno, node.col_offset),
             (node.end_lineno, node.end_col_offset), before, after))

    def _replace(self, operator: str, node: ast.expr,
                 new: ast.expr) -> None:
        ast.copy_location(new, node)
        self._add(operator, node, f'({ast.unparse(new)})')

    # ------------------------------------------------------ structure
    def generic_visit(self, node: ast.AST) -> None:
        for field, value in ast.iter_fields(node):
            if field in ('annotation', 'returns', 'decorator_list',
                         'type_comment'):
                continue
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        self._visit_child(item, node)
            elif isinstance(value, ast.AST):
                self._visit_child(value, node)

    def _visit_child(self, child: ast.AST, parent: ast.AST) -> None:
        if isinstance(child, ast.stmt):
            if _is_docstring(child, parent):
                return
            outer, self._stmt = self._stmt, child
            self._maybe_remove(child)
            self.visit(child)
            self._stmt = outer
        else:
            self.visit(child)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name in SKIP_FUNCTIONS:
            return
        # default values are evaluated where the function is defined
        for default in node.args.defaults + [
                d for d in node.args.kw_defaults if d is not None
        ]:
            self.visit(default)
        args = node.args
        names = {a.arg for a in args.posonlyargs + args.args +
                 args.kwonlyargs}
        names |= {a.arg for a in (args.vararg, args.kwarg) if a}
        self._assigned.append(names)
        for stmt in node.body:
            self._visit_child(stmt, node)
        self._assigned.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for stmt in node.body:
            self._visit_child(stmt, node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        for stmt in node.body:
            self._visit_child(stmt, node)

    def visit_Raise(self, node: ast.Raise) -> None:
        pass  # its message is text; the statement itself can be removed

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        pass

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(
            func, 'id', '')
        if name in MESSAGE_CALLS:
            return
        if name in ('isinstance', 'issubclass', 'hasattr', 'getattr'):
            return
        positional = [a for a in node.args if not isinstance(a, ast.Starred)]
        if (len(positional) >= 2 and len(node.args) == len(positional)
                and name not in SYMMETRIC_CALLS):
            first, second = (self._segment(a) for a in positional[:2])
            if first != second:
                new = ast.Call(
                    func=func,
                    args=[positional[1], positional[0], *positional[2:]],
                    keywords=node.keywords)
                self._replace('swap', node, new)
        self.generic_visit(node)

    # ------------------------------------------------------ operators
    def visit_Compare(self, node: ast.Compare) -> None:
        for index, op in enumerate(node.ops):
            for new_op in COMPARE_SWAPS.get(type(op), ()):
                ops = list(node.ops)
                ops[index] = new_op()
                self._replace(
                    'compare', node,
                    ast.Compare(left=node.left, ops=ops,
                                comparators=node.comparators))
        self.visit(node.left)
        for index, comparator in enumerate(node.comparators):
            if isinstance(node.ops[index], (ast.In, ast.NotIn)) and \
                    isinstance(comparator, (ast.Tuple, ast.List, ast.Set)):
                # the order of a membership test's items does not matter
                for item in comparator.elts:
                    self.visit(item)
                continue
            self.visit(comparator)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        new_op = ARITH_SWAPS.get(type(node.op))
        if new_op is not None:
            self._replace('arith', node,
                          ast.BinOp(left=node.left, op=new_op(),
                                    right=node.right))
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        new_op = ARITH_SWAPS.get(type(node.op))
        if new_op is not None:
            new = ast.AugAssign(target=node.target, op=new_op(),
                                value=node.value)
            ast.copy_location(new, node)
            self._add('arith', node, ast.unparse(new))
        self.visit(node.value)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        new_op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        self._replace('bool', node, ast.BoolOp(op=new_op, values=node.values))
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, (ast.Not, ast.USub)):
            operator = 'bool' if isinstance(node.op, ast.Not) else 'arith'
            self._add(operator, node, f'({self._segment(node.operand)})')
        if isinstance(node.op, ast.USub) and isinstance(
                node.operand, ast.Constant):
            return  # -n: removing the minus is the mutant
        self.generic_visit(node)

    def _negate_test(self, test: ast.expr) -> None:
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            return  # covered by removing the `not`
        self._add('bool', test, f'(not ({self._segment(test)}))')

    def visit_If(self, node: ast.If) -> None:
        self._negate_test(node.test)
        self.visit(node.test)
        for stmt in node.body + node.orelse:
            self._visit_child(stmt, node)

    def visit_While(self, node: ast.While) -> None:
        self._negate_test(node.test)
        self.visit(node.test)
        for stmt in node.body + node.orelse:
            self._visit_child(stmt, node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._negate_test(node.test)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool):
            self._add('const', node, repr(not value))
        elif isinstance(value, int):
            self._add('const', node, repr(0 if value == 1 else value + 1))
        elif isinstance(value, float):
            self._add('const', node, repr(value + 1.0))

    def _swap_pair(self, node) -> None:
        if len(node.elts) != 2 or any(
                isinstance(e, ast.Starred) for e in node.elts):
            return
        if all(
                isinstance(e, ast.Constant) and isinstance(e.value, str)
                for e in node.elts):
            return  # a set of choices, its order does not matter
        first, second = (self._segment(e) for e in node.elts)
        if not first or not second or first == second:
            return
        text = f'{second}, {first}'
        if isinstance(node, ast.List):
            text = f'[{text}]'
        elif not isinstance(node.ctx, ast.Store) and not any(
                isinstance(e, ast.Slice) for e in node.elts):
            text = f'({text})'
        self._add('swap', node, text)

    def visit_Tuple(self, node: ast.Tuple) -> None:
        self._swap_pair(node)
        self.generic_visit(node)

    def visit_List(self, node: ast.List) -> None:
        self._swap_pair(node)
        self.generic_visit(node)

    # ------------------------------------------------------ statements
    def _maybe_remove(self, stmt: ast.stmt) -> None:
        removable = False
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            func = stmt.value.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(
                func, 'id', '')
            removable = name not in MESSAGE_CALLS
        elif isinstance(stmt, (ast.AugAssign, ast.Raise)):
            removable = True
        elif isinstance(stmt, ast.Assign):
            targets = stmt.targets
            if any(isinstance(t, (ast.Attribute, ast.Subscript))
                   for t in targets):
                removable = True
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            if names & self._assigned[-1]:
                removable = True
            self._assigned[-1] |= names
        if removable:
            self._add('remove', stmt, 'pass')


def generate_mutants(source: str) -> List[Mutant]:
    """Every mutant of ``source`` (see the module docstring)."""
    collector = _Collector(source)
    tree = ast.parse(source)
    for stmt in tree.body:
        collector._visit_child(stmt, tree)
    seen, mutants = set(), []
    for edit in sorted(collector.edits, key=lambda e: (e[3], e[4], e[0])):
        operator, lineno, lines, start, end, before, after = edit
        key = (start, end, after)
        if key in seen:
            continue
        seen.add(key)
        mutants.append(
            Mutant(len(mutants), operator, lineno, lines, start, end, before,
                   after))
    return mutants


def apply_mutant(source: str, mutant: Mutant) -> str:
    """``source`` with the mutant's edit made; it must still compile."""
    offsets = _line_offsets(source)
    begin = offsets[mutant.start[0] - 1] + _char_col(source, offsets,
                                                     mutant.start)
    end = offsets[mutant.end[0] - 1] + _char_col(source, offsets, mutant.end)
    return source[:begin] + mutant.after + source[end:]


def _char_col(source: str, offsets: List[int], position: tuple) -> int:
    """ast columns are UTF-8 byte offsets; turn one into characters."""
    line_start = offsets[position[0] - 1]
    line = source[line_start:offsets[position[0]]]
    return len(line.encode('utf-8')[:position[1]].decode('utf-8'))


# ----------------------------------------------------------------------
# running tests in forked children
# ----------------------------------------------------------------------
def module_name(path: str) -> str:
    return osp.splitext(path)[0].replace('/', '.')


class _SourceLoader(importlib.abc.Loader):

    def __init__(self, path: str, source: str):
        self.path, self.source = path, source

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        exec(compile(self.source, self.path, 'exec'), module.__dict__)


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Import ``name`` from the given source instead of its file."""

    def __init__(self, name: str, path: str, source: str):
        self.name, self.path, self.source = name, path, source

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        return importlib.util.spec_from_file_location(
            fullname, self.path, loader=_SourceLoader(self.path, self.source))


def preload() -> None:
    """Import what every child needs, once, in the parent."""
    import torch  # noqa: F401
    import mmcv  # noqa: F401
    import mmengine  # noqa: F401
    import mmdet.datasets  # noqa: F401
    import mmdet.engine  # noqa: F401
    import mmdet.models  # noqa: F401
    import pytest  # noqa: F401
    import segment_anything  # noqa: F401
    import timm  # noqa: F401
    try:
        import sam2.build_sam  # noqa: F401
    except ImportError:
        pass
    if any(name == 's4m_mm' or name.startswith('s4m_mm.')
           for name in sys.modules):
        raise RuntimeError('s4m_mm must not be imported before the fork')


def _child(rel_path: str, source: Optional[str], tests: Sequence[str],
           log_path: str, trace_path: Optional[str]) -> None:
    """Run ``tests`` with ``rel_path`` imported from ``source``; exit with
    pytest's status (never returns)."""
    code = 3
    try:
        os.setpgid(0, 0)
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        import torch
        torch.set_num_threads(1)
        path = osp.join(REPO, rel_path)
        if source is not None:
            sys.meta_path.insert(
                0, _SourceFinder(module_name(rel_path), path, source))
        executed = set()
        if trace_path is not None:

            def local(frame, event, arg):
                if event == 'line':
                    executed.add(frame.f_lineno)
                return local

            def tracer(frame, event, arg):
                if frame.f_code.co_filename == path:
                    executed.add(frame.f_lineno)
                    return local
                return None

            import threading
            threading.settrace(tracer)
            sys.settrace(tracer)
        import pytest
        code = int(
            pytest.main([
                '-q', '-x', '-p', 'no:cacheprovider', '-W', 'ignore',
                *[osp.join(REPO, t) for t in tests]
            ]))
        sys.settrace(None)
        if trace_path is not None:
            with open(trace_path, 'w') as f:
                json.dump(sorted(executed), f)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


class Job(NamedTuple):
    pid: int
    started: float
    log_path: str
    tag: object


def _start(rel_path, source, tests, trace_path=None, tag=None) -> Job:
    fd, log_path = tempfile.mkstemp(prefix='s4m-mutant-', suffix='.log')
    os.close(fd)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(rel_path, source, tests, log_path, trace_path)
    return Job(pid, time.time(), log_path, tag)


def _kill(job: Job) -> None:
    try:
        os.killpg(job.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(job.pid, 0)


def run_jobs(specs: List[tuple], jobs: int, timeout: float) -> Iterator:
    """Run ``(rel_path, source, tests, tag)`` specs, ``jobs`` at a time;
    yield ``(tag, status, seconds, log_text)``, ``status`` an exit code or
    ``'timeout'``."""
    pending, running = list(specs), []
    while pending or running:
        while pending and len(running) < jobs:
            rel_path, source, tests, tag = pending.pop(0)
            running.append(_start(rel_path, source, tests, tag=tag))
        time.sleep(0.05)
        for job in list(running):
            pid, status = os.waitpid(job.pid, os.WNOHANG)
            elapsed = time.time() - job.started
            if pid == 0 and elapsed < timeout:
                continue
            if pid == 0:
                _kill(job)
                result = 'timeout'
            else:
                result = os.waitstatus_to_exitcode(status)
            running.remove(job)
            with open(job.log_path, errors='replace') as f:
                text = f.read()
            os.unlink(job.log_path)
            yield job.tag, result, elapsed, text


def first_failure(log: str) -> str:
    """The first ``FAILED`` / ``ERROR`` line of a pytest log, with the
    first line of its error (``E   ...``)."""
    lines = log.splitlines()
    failed = next((line.strip() for line in lines
                   if line.startswith(('FAILED', 'ERROR'))), '')
    error = next((line[1:].strip() for line in lines
                  if line.startswith('E ') and line[1:].strip()), '')
    if failed:
        return f'{failed} | {error}' if error else failed
    tail = [line for line in lines if line.strip()]
    return tail[-1] if tail else ''


# ----------------------------------------------------------------------
# the two modes
# ----------------------------------------------------------------------
def baseline(key: str, rel_path: str, tests: Sequence[str]) -> tuple:
    """Unmutated run: its duration and the executed lines."""
    fd, trace_path = tempfile.mkstemp(prefix='s4m-trace-', suffix='.json')
    os.close(fd)
    job = _start(rel_path, None, tests, trace_path=trace_path)
    _, status = os.waitpid(job.pid, 0)
    elapsed = time.time() - job.started
    with open(job.log_path, errors='replace') as f:
        log = f.read()
    os.unlink(job.log_path)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f'{key}: the unmutated tests fail:\n{log[-3000:]}')
    with open(trace_path) as f:
        executed = set(json.load(f))
    os.unlink(trace_path)
    return elapsed, executed


def mutate_module(key: str, jobs: int, timeout_factor: float,
                  limit: Optional[int]) -> dict:
    rel_path, tests = MODULES[key]
    with open(osp.join(REPO, rel_path)) as f:
        source = f.read()
    mutants = generate_mutants(source)
    if limit is not None:
        mutants = mutants[:limit]
    missing = [t for t in tests if not osp.exists(osp.join(REPO, t))]
    tests = [t for t in tests if t not in missing]
    if missing:
        print(f'{key}: no such test files, left out: {" ".join(missing)}')
    if tests:
        base_s, executed = baseline(key, rel_path, tests)
    else:
        base_s, executed = 0.0, set()
    timeout = timeout_factor * base_s + 10
    print(f'\n== {key}: {rel_path}, {len(mutants)} mutants, tests '
          f'{" ".join(osp.basename(t) for t in tests)} ({base_s:.1f} s '
          f'unmutated, limit {timeout:.0f} s)', flush=True)
    results, specs = {}, []
    for mutant in mutants:
        first, last = mutant.lines
        if not executed & set(range(first, last + 1)):
            results[mutant.index] = ('not covered', 0.0, '')
            continue
        mutated = apply_mutant(source, mutant)
        try:
            compile(mutated, rel_path, 'exec')
        except SyntaxError as err:
            print(f'  skipped, does not compile ({err.msg}): '
                  f'{mutant.describe()}')
            results[mutant.index] = ('invalid', 0.0, '')
            continue
        specs.append((rel_path, mutated, tests, mutant.index))
    started = time.time()
    for done, (index, status, seconds, log) in enumerate(
            run_jobs(specs, jobs, timeout), 1):
        if status == 'timeout':
            verdict = 'killed (timeout)'
        elif status == 0:
            verdict = 'survived'
        elif status == 5:  # pytest: no tests collected
            raise RuntimeError(f'{key}: no tests collected')
        else:
            verdict = 'killed'
        results[index] = (verdict, seconds, first_failure(log))
        if done % 20 == 0:
            print(f'  {done}/{len(specs)} run, {time.time() - started:.0f} s',
                  flush=True)
    counts = {}
    for verdict, _, _ in results.values():
        counts[verdict] = counts.get(verdict, 0) + 1
    killed = counts.get('killed', 0) + counts.get('killed (timeout)', 0)
    mutants = [m for m in mutants if results[m.index][0] != 'invalid']
    score = killed / len(mutants) if mutants else 1.0
    survivors = [
        dict(mutant=m.describe(), status=results[m.index][0])
        for m in mutants if not results[m.index][0].startswith('killed')
    ]
    print(f'  {key}: score {score:.3f} ({killed} of {len(mutants)} killed; '
          f'{counts.get("survived", 0)} survived, '
          f'{counts.get("not covered", 0)} not covered) in '
          f'{time.time() - started + base_s:.0f} s')
    for survivor in survivors:
        print(f'    {survivor["status"]:>11}: {survivor["mutant"]}')
    return dict(
        module=rel_path,
        tests=tests,
        mutants=len(mutants),
        killed=killed,
        counts=counts,
        score=score,
        survivors=survivors)


def run_planted(spec_path: str, jobs: int, timeout: float) -> List[dict]:
    with open(spec_path) as f:
        planted = json.load(f)
    specs = []
    for index, item in enumerate(planted):
        with open(osp.join(REPO, item['file'])) as f:
            source = f.read()
        if source.count(item['old']) < 1:
            raise RuntimeError(f'planted bug {item["name"]!r}: its `old` '
                               f'text is not in {item["file"]} any more')
        specs.append((item['file'], source.replace(item['old'], item['new'],
                                                   1), item['tests'], index))
    outcomes = [None] * len(planted)
    for index, status, seconds, log in run_jobs(specs, jobs, timeout):
        caught = status != 0
        line = 'timeout' if status == 'timeout' else first_failure(log)
        outcomes[index] = dict(
            name=planted[index]['name'], caught=caught, failure=line)
        print(f'{"CAUGHT  " if caught else "SURVIVED"} '
              f'{planted[index]["name"]}\n          {line}', flush=True)
    return outcomes


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--modules', nargs='+', choices=list(MODULES),
                        default=list(MODULES), help='modules to mutate')
    parser.add_argument('--jobs', type=int, default=1,
                        help='mutants run at the same time')
    parser.add_argument('--timeout-factor', type=float, default=3.0,
                        help='time limit of a mutant, x the unmutated run')
    parser.add_argument('--limit', type=int, default=None,
                        help='only the first N mutants of each module')
    parser.add_argument('--list', action='store_true',
                        help='print the modules, their tests and mutant '
                        'counts, run nothing')
    parser.add_argument('--show', action='store_true',
                        help='print every mutant, run nothing')
    parser.add_argument('--planted', metavar='JSON',
                        help='run hand-written mutations instead')
    parser.add_argument('--out', metavar='JSON', help='write the results')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, REPO)
    if args.list or args.show:
        for key in args.modules:
            rel_path, tests = MODULES[key]
            with open(osp.join(REPO, rel_path)) as f:
                mutants = generate_mutants(f.read())
            print(f'{key}: {rel_path} ({len(mutants)} mutants)\n  ' +
                  '\n  '.join(tests))
            if args.show:
                for mutant in mutants:
                    print(f'    {mutant.describe()}')
        return 0
    os.chdir(REPO)
    preload()
    started = time.time()
    if args.planted:
        outcomes = run_planted(args.planted, args.jobs, timeout=600)
        report = dict(planted=outcomes)
        status = 0 if all(o['caught'] for o in outcomes) else 1
    else:
        report = {
            key: mutate_module(key, args.jobs, args.timeout_factor,
                               args.limit)
            for key in args.modules
        }
        total = sum(r['mutants'] for r in report.values())
        killed = sum(r['killed'] for r in report.values())
        print(f'\nmutation score {killed / max(total, 1):.3f}: {killed} of '
              f'{total} mutants killed')
        for key, r in report.items():
            print(f'  {key:>16}: {r["score"]:.3f} ({r["killed"]}/'
                  f'{r["mutants"]})')
        status = 0
    print(f'wall time {time.time() - started:.0f} s')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=1)
    return status


if __name__ == '__main__':
    sys.exit(main())
