# Copyright (c) s4m-mm authors. All rights reserved.
"""NamedEvaluator: mmengine's Evaluator with its metrics by name, so that a
config or the command line addresses one by what it is."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.evaluator import BaseMetric

from s4m_mm.evaluation import NamedEvaluator


class CountMetric(BaseMetric):
    """Counts the samples it saw, plus ``offset``, under its prefix."""

    def __init__(self, offset: int, prefix: str) -> None:
        super().__init__(prefix=prefix)
        self.offset = offset

    def process(self, data_batch, data_samples):
        self.results.extend(data_samples)

    def compute_metrics(self, results):
        return dict(count=len(results) + self.offset)


def test_metrics_run_in_the_order_of_their_names_with_their_prefixes():
    evaluator = NamedEvaluator(metrics=dict(
        coco=CountMetric(0, 'coco'), cityscapes=CountMetric(10, 'cs')))
    assert evaluator.metric_names == ['coco', 'cityscapes']
    assert evaluator.metric('cityscapes').offset == 10
    evaluator.process([dict(a=1), dict(a=2), dict(a=3)])
    # 3 samples: coco counts 3, cityscapes 3 + 10
    assert evaluator.evaluate(3) == {'coco/count': 3, 'cs/count': 13}


def test_a_metric_set_to_none_is_switched_off():
    evaluator = NamedEvaluator(metrics=dict(
        coco=None, cityscapes=CountMetric(1, 'cs')))
    assert evaluator.metric_names == ['cityscapes']
    assert len(evaluator.metrics) == 1
    with pytest.raises(KeyError, match="no metric 'coco'.*'cityscapes'"):
        evaluator.metric('coco')


def test_a_metric_is_set_by_name_from_the_command_line(repo_root):
    """``--cfg-options test_evaluator.metrics.cityscapes.outfile_prefix=X``
    reaches the metric of that name, and only it."""
    cfg = Config.fromfile(osp.join(
        repo_root,
        'configs/s4m/cityscapes/s4m-teacher_r50_2xb2-90k_cityscapes-5pct.py'))
    cfg.merge_from_dict(
        {'test_evaluator.metrics.cityscapes.outfile_prefix': '/tmp/cs_out'})
    metrics = cfg.test_evaluator.metrics
    assert metrics.cityscapes.outfile_prefix == '/tmp/cs_out'
    assert 'outfile_prefix' not in metrics.coco
    assert cfg.test_evaluator.type == 'NamedEvaluator'


@pytest.mark.parametrize('metrics, error, match', [
    ([dict(type='CocoMetric')], TypeError, 'must be a dict of name'),
    (dict(coco='CocoMetric'), TypeError, 'metrics.coco must be'),
    (dict(coco=None), ValueError, 'every metric is None'),
])
def test_bad_metrics_are_refused_naming_the_key(metrics, error, match):
    with pytest.raises(error, match=match):
        NamedEvaluator(metrics=metrics)
