# Copyright (c) s4m-mm authors. All rights reserved.
from typing import Dict, List, Optional, Union

from mmengine.evaluator import BaseMetric, Evaluator

from mmdet.registry import EVALUATOR

MetricConfig = Union[dict, BaseMetric]


@EVALUATOR.register_module()
class NamedEvaluator(Evaluator):
    """mmengine's :class:`Evaluator` with its metrics by name, so that a
    config or the command line addresses one by what it is rather than by
    its place in a list::

        val_evaluator = dict(
            type='NamedEvaluator',
            metrics=dict(coco=dict(type='CocoMetric', ...),
                         cityscapes=dict(type='CityScapesMetric', ...)))
        # --cfg-options val_evaluator.metrics.cityscapes.outfile_prefix=DIR
        # --cfg-options val_evaluator.metrics.coco=None  (switched off)

    The metrics run in the dict's order, as a list's would; their results
    keep their own prefixes (``coco/segm_mAP``, ``cityscapes/mAP``).

    Args:
        metrics (dict[str, dict | BaseMetric | None]): name -> metric (a
            config or a built metric); ``None`` switches that name off.

    Attributes:
        metric_names (list[str]): the names of :attr:`metrics`, in order.
    """

    def __init__(self, metrics: Dict[str, Optional[MetricConfig]]) -> None:
        if not isinstance(metrics, dict):
            raise TypeError(
                'NamedEvaluator: metrics must be a dict of name -> metric '
                'config (None switches one off), e.g. dict(coco=dict(type='
                f"'CocoMetric', ...)), got {type(metrics).__name__}: "
                f'{metrics!r}')
        for name, metric in metrics.items():
            if metric is not None and not isinstance(metric,
                                                     (dict, BaseMetric)):
                raise TypeError(
                    f'NamedEvaluator: metrics.{name} must be a metric config'
                    f' dict, a metric or None, got {metric!r}')
        self.metric_names: List[str] = [
            name for name, metric in metrics.items() if metric is not None
        ]
        if not self.metric_names:
            raise ValueError('NamedEvaluator: every metric is None; give at '
                             f'least one (names: {list(metrics)})')
        super().__init__([metrics[name] for name in self.metric_names])

    def metric(self, name: str) -> BaseMetric:
        """The built metric called ``name``."""
        if name not in self.metric_names:
            raise KeyError(f'NamedEvaluator has no metric {name!r}; its '
                           f'metrics are {self.metric_names}')
        return self.metrics[self.metric_names.index(name)]
