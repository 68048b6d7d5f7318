# Copyright (c) s4m-mm authors. All rights reserved.
"""ResumableEarlyStoppingHook: the patience survives --resume."""
from types import SimpleNamespace
from unittest import mock

from s4m_mm.engine.hooks import ResumableEarlyStoppingHook
from s4m_mm.engine.hooks.early_stopping_hook import CHECKPOINT_KEY

MONITOR = 'coco/segm_mAP'
#: by hand, min_delta 0.05, patience 3: 0.30 is the best; 0.20, 0.25 and
#: 0.31 (< 0.30 + 0.05) are three evaluations without a rise: the 4th stops
SCORES = (0.30, 0.20, 0.25, 0.31)


def new_hook():
    return ResumableEarlyStoppingHook(
        monitor=MONITOR, rule='greater', min_delta=0.05, patience=3)


def fake_runner(iteration):
    return SimpleNamespace(
        iter=iteration, epoch=0, logger=mock.Mock(),
        train_loop=SimpleNamespace(stop_training=False))


def feed(hook, runner, scores):
    """Evaluations, each with its score; the index of the one that stops
    the run, or None."""
    for i, score in enumerate(scores):
        hook.after_val_epoch(runner, {MONITOR: score})
        if runner.train_loop.stop_training:
            return i
    return None


def test_uninterrupted_run_stops_at_the_fourth_evaluation():
    assert feed(new_hook(), fake_runner(0), SCORES) == 3


def test_resumed_run_stops_where_the_uninterrupted_one_did():
    hook, runner = new_hook(), fake_runner(150)
    assert feed(hook, runner, SCORES[:3]) is None
    checkpoint = {'meta': {'iter': 150, 'epoch': 0}}
    hook.before_save_checkpoint(runner, checkpoint)
    assert checkpoint[CHECKPOINT_KEY] == dict(
        monitor=MONITOR, best_score=0.30, wait_count=2)

    resumed, runner = new_hook(), fake_runner(150)
    resumed.after_load_checkpoint(runner, checkpoint)
    resumed.before_train(runner)
    assert (resumed.best_score, resumed.wait_count) == (0.30, 2)
    assert '2 of 3 evaluations' in runner.logger.info.call_args[0][0]
    assert feed(resumed, runner, SCORES[3:]) == 0
    # mmengine's hook, counting afresh, would have trained on
    assert feed(new_hook(), fake_runner(150), SCORES[3:]) is None


def test_load_from_and_unusable_checkpoints_count_afresh():
    saved = {'meta': {'iter': 150, 'epoch': 0},
             CHECKPOINT_KEY: dict(monitor=MONITOR, best_score=0.3,
                                  wait_count=2)}
    # load_from: the loop stays at iteration 0, a new run
    hook, runner = new_hook(), fake_runner(0)
    hook.after_load_checkpoint(runner, saved)
    hook.before_train(runner)
    assert hook.wait_count == 0 and hook.best_score == float('-inf')
    runner.logger.warning.assert_not_called()
    # resumed, but saved without the state or for another monitor
    other = dict(saved, **{CHECKPOINT_KEY: dict(
        monitor='coco/bbox_mAP', best_score=0.3, wait_count=2)})
    for checkpoint, what in (({'meta': saved['meta']}, 'no early-stopping'),
                             (other, "'coco/bbox_mAP'")):
        hook, runner = new_hook(), fake_runner(150)
        hook.after_load_checkpoint(runner, checkpoint)
        hook.before_train(runner)
        assert hook.wait_count == 0 and hook.best_score == float('-inf')
        message = runner.logger.warning.call_args[0][0]
        assert what in message and 'iteration 150' in message
        assert 'patience counts afresh' in message
