# Copyright (c) s4m-mm authors. All rights reserved.
"""Early stopping whose count survives ``--resume``."""
from typing import Optional

from mmengine.hooks import EarlyStoppingHook
from mmengine.runner import Runner

from mmdet.registry import HOOKS
from .rng_state_hook import resumes

#: checkpoint key of the saved state
CHECKPOINT_KEY = 'early_stopping'


@HOOKS.register_module()
class ResumableEarlyStoppingHook(EarlyStoppingHook):
    """MMEngine's :class:`EarlyStoppingHook` with its state in checkpoints.

    MMEngine's hook keeps the best score and the number of evaluations
    without improvement in memory only: a run resumed with ``--resume``
    starts counting its patience afresh and may train on where the
    uninterrupted run stopped. This hook writes ``monitor``, ``best_score``
    and ``wait_count`` under ``checkpoint['early_stopping']`` and puts them
    back when training resumes (not after ``load_from``, which starts a new
    run). With :class:`RNGStateHook`, which validates the resumed iteration
    again, a resumed run stops where the uninterrupted one did.

    The arguments are those of :class:`EarlyStoppingHook`. A resumed
    checkpoint without the state, or with another ``monitor``, is reported
    and the count starts afresh.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._loaded: Optional[dict] = None
        self._loaded_progress = None

    def state(self) -> dict:
        """The saved state: ``monitor`` (str), ``best_score`` (float,
        -inf / inf before any evaluation), ``wait_count`` (int)."""
        return dict(monitor=self.monitor, best_score=float(self.best_score),
                    wait_count=int(self.wait_count))

    def before_save_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = self.state()

    def after_load_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        self._loaded = checkpoint.get(CHECKPOINT_KEY)
        meta = checkpoint.get('meta', {})
        self._loaded_progress = (meta.get('epoch'), meta.get('iter'))

    def before_train(self, runner: Runner) -> None:
        progress, saved = self._loaded_progress, self._loaded
        self._loaded = self._loaded_progress = None
        if not resumes(runner, progress):
            return
        where = f'iteration {runner.iter}, epoch {runner.epoch}'
        if saved is None or saved.get('monitor') != self.monitor:
            what = 'no early-stopping state' if saved is None else \
                f'the state of monitor {saved.get("monitor")!r}'
            runner.logger.warning(
                f'ResumableEarlyStoppingHook: the resumed checkpoint ({where})'
                f' has {what}, not of {self.monitor!r}: the patience counts '
                'afresh from here')
            return
        self.best_score = saved['best_score']
        self.wait_count = saved['wait_count']
        runner.logger.info(
            f'ResumableEarlyStoppingHook: restored at {where}: best '
            f'{self.monitor} {self.best_score}, {self.wait_count} of '
            f'{self.patience} evaluations without improvement')
