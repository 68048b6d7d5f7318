# Copyright (c) s4m-mm authors. All rights reserved.
"""Check that the processes of a distributed run hold the same model."""
import hashlib
from typing import Dict, Iterable, List, Optional, Sequence

from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.runner import Runner
from torch import nn

from mmdet.registry import HOOKS
from s4m_mm.utils import tensor_digest, update_digest
from .teacher_schedule_hook import unwrap

#: mismatching tensors named in an error, at most
MAX_NAMED = 5


def state_digests(model: nn.Module,
                  modules: Optional[Sequence[str]] = None,
                  buffers: bool = False) -> Dict[str, str]:
    """Digests of the parameters (and buffers) of ``model``'s submodules.

    Args:
        model (nn.Module): the unwrapped model.
        modules (Sequence[str], optional): dotted submodule names, e.g.
            ``('teacher', 'student')``; ``None`` takes the whole model.
        buffers (bool): include buffers.

    Returns:
        dict[str, str]: full tensor name -> :func:`tensor_digest`.
    """
    roots = {'': model}
    if modules is not None:
        roots = {}
        for name in modules:
            try:
                roots[name] = model.get_submodule(name)
            except AttributeError:
                raise KeyError(
                    f'ReplicaCheckHook: modules={tuple(modules)!r} names '
                    f'{name!r}, which {type(model).__name__} does not '
                    'have') from None
    digests = {}
    for prefix, module in roots.items():
        tensors = list(module.named_parameters(prefix=prefix))
        if buffers:
            tensors += list(module.named_buffers(prefix=prefix))
        for name, tensor in tensors:
            digests[name] = tensor_digest(tensor)
    return digests


def mismatched_tensors(digests: List[Dict[str, str]]) -> List[str]:
    """Tensors whose digest is not the same in every process.

    Args:
        digests (list[dict[str, str]]): :func:`state_digests` of each rank.

    Returns:
        list[str]: ``'<name> (ranks [r, ...] differ from rank 0)'``, sorted
        by name; a tensor missing in a process counts as different.
    """
    problems = []
    for name in sorted(set().union(*digests)):
        values = [per_rank.get(name) for per_rank in digests]
        differ = [rank for rank, value in enumerate(values)
                  if value != values[0]]
        if differ:
            problems.append(f'{name} (ranks {differ} differ from rank 0)')
    return problems


def unregistered_modules(model: nn.Module) -> List[nn.Module]:
    """The distinct modules that submodules of ``model`` hold as plain
    attributes outside the module tree (not in ``_modules``, so not
    parameters of the model nor of a DDP wrapper around it), e.g. the
    frozen SAM of a SAM adapter; a teacher deep-copied from a student
    shares them. Modules inside those are not listed again."""
    registered = {id(module) for module in model.modules()}
    found: Dict[int, nn.Module] = {}
    for module in model.modules():
        for value in vars(module).values():
            if isinstance(value, nn.Module) and \
                    id(value) not in registered:
                found.setdefault(id(value), value)
    return list(found.values())


def shared_parameters(wrapped: nn.Module,
                      modules: Iterable[nn.Module]) -> int:
    """How many parameters of ``modules`` are parameters of ``wrapped``
    (and so would be all-reduced by a DDP wrapper around it)."""
    wrapped_ids = {id(p) for p in wrapped.parameters()}
    return sum(
        1 for module in modules for p in module.parameters()
        if id(p) in wrapped_ids)


@HOOKS.register_module()
class ReplicaCheckHook(Hook):
    """Check that the processes of a distributed run hold the same model.

    DDP keeps replicas identical by all-reducing gradients; what changes
    weights outside the backward pass, such as the teacher's loading, copy
    and EMA (:class:`TeacherScheduleHook`), stays identical only if every
    process does exactly the same. This hook verifies, in distributed runs
    (it does nothing in a single process):

    - before training: no parameter of a module held outside the module
      tree (:func:`unregistered_modules`, e.g. a SAM adapter's frozen SAM)
      is a parameter of the DDP-wrapped model (so it is never
      all-reduced), and how many such modules and parameters each process
      holds is logged; with ``external_digests`` their weights must also
      be identical in every process (hashing them costs a pass over all of
      SAM's weights, so it is off by default);
    - before training, every ``interval`` iterations and after training:
      SHA-1 digests of every parameter (and buffer, with ``buffers``) of
      ``modules`` are gathered from all processes and must be equal.

    It is opt-in: the student configs leave it out; add
    ``dict(type='ReplicaCheckHook', interval=5000, modules=('teacher',
    'student'))`` to ``custom_hooks`` to check a distributed run.

    A difference raises ``RuntimeError`` on every process, naming the
    tensors and ranks.

    Args:
        interval (int): iterations between checks. Defaults to 1000.
        modules (Sequence[str], optional): submodules of the (unwrapped)
            model to compare, e.g. ``('teacher', 'student')``; ``None``
            compares the whole model. Defaults to None.
        buffers (bool): compare buffers too. DDP broadcasts process 0's
            buffers at every forward pass, so BatchNorm statistics updated
            in training legitimately differ between processes in between
            (and so does a teacher's EMA of them); compare buffers only
            when they are frozen (e.g. ``norm_eval=True``) or synchronised
            (SyncBN). Defaults to False.
        external_digests (bool): also require identical weights of the
            modules held outside the module tree. Defaults to False.
    """

    priority = 'LOW'

    def __init__(self,
                 interval: int = 1000,
                 modules: Optional[Sequence[str]] = None,
                 buffers: bool = False,
                 external_digests: bool = False) -> None:
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'ReplicaCheckHook: interval must be a '
                             f'positive int, got {interval!r}')
        self.interval = interval
        self.modules = None if modules is None else tuple(modules)
        self.buffers = buffers
        self.external_digests = external_digests

    @property
    def compared(self) -> str:
        what = 'parameters and buffers' if self.buffers else 'parameters'
        where = 'the model' if self.modules is None else ', '.join(
            self.modules)
        return f'{what} of {where}'

    def before_train(self, runner: Runner) -> None:
        if get_world_size() == 1:
            return
        self.check_external_modules(runner)
        self.check(runner, 'before training')

    def after_train_iter(self,
                         runner: Runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        if get_world_size() > 1 and self.every_n_train_iters(
                runner, self.interval):
            self.check(runner, f'iteration {runner.iter + 1}')

    def after_train(self, runner: Runner) -> None:
        if get_world_size() > 1:
            self.check(runner, 'after training')

    def check_external_modules(self, runner: Runner) -> None:
        """Modules outside the module tree stay outside DDP, one line per
        process says how many it holds, and with ``external_digests``
        their weights agree between processes."""
        external = unregistered_modules(unwrap(runner.model))
        shared = shared_parameters(runner.model, external)
        if shared:
            raise RuntimeError(
                f'ReplicaCheckHook: rank {get_rank()}: {shared} parameters '
                'of modules held outside the module tree (e.g. a frozen '
                'SAM) are parameters of the DDP-wrapped model '
                f'({type(runner.model).__name__}), so DDP would all-reduce '
                'them; keep such modules out of the module tree')
        report = dict(
            rank=get_rank(),
            modules=len(external),
            parameters=sum(p.numel() for module in external
                           for p in module.parameters()))
        if self.external_digests:
            digest = hashlib.sha1()
            for module in external:
                for tensor in module.state_dict().values():
                    update_digest(digest, tensor)
            report['digest'] = digest.hexdigest()
        reports = all_gather_object(report)
        for item in reports:
            runner.logger.info(
                f'ReplicaCheckHook: rank {item["rank"]} holds '
                f'{item["modules"]} module(s) outside the module tree '
                f'({item["parameters"]} parameters, not parameters of the '
                'DDP-wrapped model)')
        if not self.external_digests:
            return
        differ = [item['rank'] for item in reports
                  if item['digest'] != reports[0]['digest']]
        if differ:
            raise RuntimeError(
                'ReplicaCheckHook: the weights of the modules outside the '
                f'module tree (e.g. a frozen SAM) of ranks {differ} differ '
                'from those of rank 0; every process must load the same '
                'checkpoint')

    def check(self, runner: Runner, when: str) -> None:
        """Compare the digests of all processes (a collective call)."""
        digests = all_gather_object(
            state_digests(
                unwrap(runner.model), self.modules, self.buffers))
        problems = mismatched_tensors(digests)
        if problems:
            more = len(problems) - MAX_NAMED
            raise RuntimeError(
                f'ReplicaCheckHook: {when}, the {len(digests)} processes '
                f'hold different {self.compared}: '
                f'{", ".join(problems[:MAX_NAMED])}'
                f'{f" and {more} more" if more > 0 else ""}')
        runner.logger.info(
            f'ReplicaCheckHook: {when}, {len(digests[0])} tensors '
            f'({self.compared}) are identical in {len(digests)} processes')
