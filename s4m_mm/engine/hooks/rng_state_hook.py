# Copyright (c) s4m-mm authors. All rights reserved.
"""Random number generator states in checkpoints, so that ``--resume``
continues a run exactly as if it had never stopped."""
import random
from typing import Callable, Dict, Iterator, List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.runner import IterBasedTrainLoop, Runner
from torch import nn

from mmdet.registry import HOOKS
from .teacher_schedule_hook import unwrap

#: checkpoint key of the saved states: a list with one dict per process
CHECKPOINT_KEY = 'rng_states'


def module_generators(model: nn.Module) -> Dict[str, torch.Generator]:
    """Every ``torch.Generator`` that a submodule of ``model`` holds as an
    attribute (e.g. ``AdaptiveRandomPaste.generator`` when it has a
    ``generator_seed``), by dotted name
    (``'unsup_batch_augments.arp.generator'``).
    """
    found = {}
    for prefix, module in model.named_modules():
        for attr, value in vars(module).items():
            if isinstance(value, torch.Generator):
                found[f'{prefix}.{attr}' if prefix else attr] = value
    return found


def get_rng_states(generators: Dict[str, torch.Generator]) -> dict:
    """The states of this process's random number generators.

    Only tensors, numbers, tuples, lists and dicts, so that checkpoints stay
    loadable by the weights-only checks of ``s4m_mm.utils
    .checkpoint_compat``.

    Args:
        generators (dict[str, torch.Generator]): module generators, see
            :func:`module_generators`.

    Returns:
        dict: ``torch`` (uint8 tensor), ``cuda`` (list of uint8 tensors,
        only when CUDA is initialised), ``numpy`` (the legacy global
        ``MT19937``: ``keys`` int64 ``(624,)``, ``pos``, ``has_gauss``,
        ``cached_gaussian``), ``random`` (``random.getstate()``) and
        ``generators`` (name -> uint8 tensor).
    """
    _, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    states = dict(
        torch=torch.get_rng_state(),
        numpy=dict(
            keys=torch.from_numpy(keys.astype(np.int64)),
            pos=int(pos),
            has_gauss=int(has_gauss),
            cached_gaussian=float(cached_gaussian)),
        random=random.getstate(),
        generators={
            name: generator.get_state()
            for name, generator in generators.items()
        })
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict,
                   generators: Dict[str, torch.Generator]) -> List[str]:
    """Put the states of :func:`get_rng_states` back.

    Args:
        states (dict): as returned by :func:`get_rng_states` (tensors may
            have been loaded onto a GPU).
        generators (dict[str, torch.Generator]): this process's module
            generators.

    Returns:
        list[str]: problems that kept a state from being restored (module
        generators that are missing on one side, CUDA states that do not
        fit the visible devices); empty when everything was restored.
    """
    torch.set_rng_state(states['torch'].cpu())
    numpy_state = states['numpy']
    np.random.set_state(
        ('MT19937', numpy_state['keys'].cpu().numpy().astype(np.uint32),
         numpy_state['pos'], numpy_state['has_gauss'],
         numpy_state['cached_gaussian']))
    version, internal, gauss = states['random']
    random.setstate((version, tuple(internal), gauss))

    problems = []
    saved = states.get('generators', {})
    for name, generator in generators.items():
        if name in saved:
            generator.set_state(saved[name].cpu())
        else:
            problems.append(f'the checkpoint has no state of the module '
                            f'generator {name!r}')
    for name in sorted(set(saved) - set(generators)):
        problems.append(f'the model has no module generator {name!r} any '
                        'more')
    if 'cuda' in states:
        cuda = [state.cpu() for state in states['cuda']]
        if not torch.cuda.is_available():
            problems.append('the checkpoint has CUDA states but CUDA is not '
                            'available')
        elif len(cuda) != torch.cuda.device_count():
            problems.append(f'the checkpoint has CUDA states of {len(cuda)} '
                            f'devices, {torch.cuda.device_count()} are '
                            'visible')
        else:
            torch.cuda.set_rng_state_all(cuda)
    return problems


def resumes(runner: Runner, progress) -> bool:
    """Whether ``runner`` resumes the checkpoint whose meta held
    ``progress`` = ``(epoch, iter)`` (None: nothing loaded): Runner.resume
    sets the loop's epoch and iteration from it, while after ``load_from``
    (a new run) they stay at 0."""
    return progress is not None and (runner.epoch, runner.iter) == \
        progress and (runner.epoch > 0 or runner.iter > 0)


def validated_after(runner: Runner) -> bool:
    """Whether the train loop validated right after the current iteration
    (iteration-based loop) or epoch (epoch-based) -- the one a resumed
    checkpoint was saved at.

    MMEngine's loops save a checkpoint (``after_train_iter`` /
    ``after_train_epoch``) before they validate, so a resumed run skips
    that validation. It matters: the validation's data loader draws a seed
    from torch's global generator (the uninterrupted run's next iterations
    see it), and its metrics feed ``CheckpointHook(save_best=...)`` and
    early stopping.
    """
    loop = runner.train_loop
    if runner.val_loop is None or not hasattr(loop, 'val_interval'):
        return False
    by_iter = isinstance(loop, IterBasedTrainLoop)
    done = runner.iter if by_iter else runner.epoch
    if done >= (loop.max_iters if by_iter else loop.max_epochs):
        return False  # a finished run: it does not train on
    # the loops' own choice of interval (``dynamic_intervals``) first
    decide = getattr(loop, '_decide_current_val_interval', None)
    if decide is not None:
        decide()
    return done >= loop.val_begin and done % loop.val_interval == 0


class _RestoreAfterSkip:
    """Stands in for :class:`IterBasedTrainLoop`'s ``dataloader_iterator``
    while the loop replays the batches of the resumed iterations; before the
    first new batch is loaded it calls ``restore`` and puts the loop's
    iterator back.

    Args:
        loop (IterBasedTrainLoop): the loop, whose iterator is wrapped.
        skip (int): batches the loop replays (its ``iter``).
        restore (callable): called once the replay is over.
    """

    def __init__(self, loop: IterBasedTrainLoop, skip: int,
                 restore: Callable[[], None]) -> None:
        self.loop = loop
        self.iterator = loop.dataloader_iterator
        self.remaining = skip
        self.restore = restore

    def __iter__(self) -> Iterator:
        return self

    def __next__(self):
        if self.remaining > 0:
            self.remaining -= 1
            return next(self.iterator)
        self.restore()
        self.loop.dataloader_iterator = self.iterator
        return next(self.iterator)


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save the random number generator states in every checkpoint and put
    them back when training resumes, so that a run stopped at any time
    (even by SIGKILL) and resumed with ``--resume`` ends with the same
    weights and metrics as an uninterrupted run with the same seed.

    MMEngine's ``--resume`` restores weights, optimizer, schedulers,
    message hub and iteration, and re-seeds the generators with the
    config's seed; :class:`IterBasedTrainLoop` then replays the data loader
    for the iterations already done. That replay repeats the draws of the
    data pipeline, but not the draws of the model (torch's global generator:
    Mask2Former's point sampling, SAM prompt sampling, ARP; module
    generators such as ``AdaptiveRandomPaste.generator``), which start again
    from the seed. This hook saves, per process:

    - torch's CPU generator and, when CUDA is in use, every CUDA generator;
    - numpy's and Python's global generators;
    - every ``torch.Generator`` attribute of a submodule of the model.

    They are taken after each training iteration (priority ``LOW``: after
    the hooks of the model, before :class:`CheckpointHook` at
    ``VERY_LOW``), gathered from all processes in distributed runs (the
    checkpoint holds one entry per rank), and written under
    ``checkpoint['rng_states']``. On resume they are restored right after
    the data loader's replay, before the first new batch is loaded, so the
    data pipeline and the model continue with exactly the draws of the
    uninterrupted run. With :class:`EpochBasedTrainLoop` (no replay) they
    are restored before the first epoch. MMEngine's loops save a
    checkpoint before they validate, so when the uninterrupted run
    validated right after the resumed iteration (or epoch; see
    :func:`validated_after`), that validation is run again after the
    restore: its data loader draws from torch's generator, and
    ``CheckpointHook(save_best=...)`` and early stopping
    (:class:`ResumableEarlyStoppingHook`) need its metrics.

    Loading weights with ``load_from`` (no resume) leaves the generators
    alone. A resumed checkpoint without saved states, one from a different
    number of processes, or generators that no longer match are reported
    as warnings: training goes on, reproducibly but not identically.

    Exactness also needs a fixed ``randomness.seed`` (data samplers are
    seeded at build time) and deterministic kernels
    (``randomness.deterministic=True`` on GPU).
    """

    priority = 'LOW'

    def __init__(self) -> None:
        #: per process, the states after the last training iteration
        self._states: Optional[List[dict]] = None
        #: the checkpoint's states, kept from loading until restored
        self._loaded: Optional[List[dict]] = None
        self._loaded_progress = None

    # ------------------------------------------------------------ saving

    def _capture(self, runner: Runner) -> None:
        """Gather every process's current states (a collective call in
        distributed runs: every rank must reach it)."""
        local = get_rng_states(module_generators(unwrap(runner.model)))
        self._states = all_gather_object(local)

    def after_train_iter(self,
                         runner: Runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        self._capture(runner)

    def before_save_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        if self._states is None:  # saved before any training iteration
            if get_world_size() > 1:
                return  # only the master gets here: nothing to gather
            self._capture(runner)
        checkpoint[CHECKPOINT_KEY] = self._states

    # --------------------------------------------------------- restoring

    def after_load_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        self._loaded = checkpoint.get(CHECKPOINT_KEY)
        meta = checkpoint.get('meta', {})
        self._loaded_progress = (meta.get('epoch'), meta.get('iter'))

    def before_train(self, runner: Runner) -> None:
        if not resumes(runner, self._loaded_progress):
            self._loaded = None
            self._capture(runner)
            return
        # until the next iteration, the checkpoint's states are the current
        # ones (should anything save a checkpoint before it)
        self._states = self._loaded
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop):
            loop.dataloader_iterator = _RestoreAfterSkip(
                loop, runner.iter, lambda: self._resume(runner))
        else:
            self._resume(runner)

    def _resume(self, runner: Runner) -> None:
        """Restore the states, then validate again if the uninterrupted
        run validated right after the resumed iteration (or epoch)."""
        self._restore(runner)
        if validated_after(runner):
            runner.logger.info(
                f'RNGStateHook: validating iteration {runner.iter}, epoch '
                f'{runner.epoch} again: the uninterrupted run validated '
                'right after the checkpoint was saved')
            runner.val_loop.run()
            runner.model.train()

    def _restore(self, runner: Runner) -> None:
        saved, self._loaded = self._loaded, None
        where = f'iteration {runner.iter}, epoch {runner.epoch}'
        if saved is None:
            runner.logger.warning(
                f'RNGStateHook: the resumed checkpoint ({where}) has no '
                f'`{CHECKPOINT_KEY}` (saved without this hook): the random '
                'generators restart from the seed, so the resumed run will '
                'not repeat the draws of an uninterrupted one')
            return
        world_size, rank = get_world_size(), get_rank()
        if len(saved) != world_size:
            runner.logger.warning(
                f'RNGStateHook: the resumed checkpoint holds the random '
                f'states of {len(saved)} processes, this run has '
                f'{world_size}: they are not restored, so the resumed run '
                'will not repeat the draws of an uninterrupted one')
            return
        generators = module_generators(unwrap(runner.model))
        problems = set_rng_states(saved[rank], generators)
        for problem in problems:
            runner.logger.warning(f'RNGStateHook: {problem}; that state is '
                                  'not restored')
        restored = ['torch', 'numpy', 'random'] + sorted(generators)
        runner.logger.info(
            f'RNGStateHook: restored the random states of {where} '
            f'({", ".join(restored)}) for {world_size} process(es)')
