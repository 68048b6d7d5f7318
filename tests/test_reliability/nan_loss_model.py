# Copyright (c) s4m-mm authors. All rights reserved.
"""Test-only: a Mask2Former whose chosen losses turn NaN at one iteration.

Imported by a training run of ``test_finite_loss.py`` through the config's
``custom_imports`` (the test puts this folder on ``PYTHONPATH``); not part
of the package.
"""
from typing import Dict, Sequence

from mmengine.logging import MessageHub
from torch import Tensor

from mmdet.models import Mask2Former
from mmdet.registry import MODELS


@MODELS.register_module()
class NaNLossMask2Former(Mask2Former):
    """:class:`Mask2Former` whose ``nan_losses`` are multiplied by NaN at
    training iteration ``nan_iter`` (1-based, as the log counts them).

    Args:
        nan_iter (int): the iteration whose losses are poisoned.
        nan_losses (Sequence[str]): names of the poisoned losses.
    """

    def __init__(self, nan_iter: int, nan_losses: Sequence[str], **kwargs):
        super().__init__(**kwargs)
        self.nan_iter = nan_iter
        self.nan_losses = tuple(nan_losses)

    def loss(self, batch_inputs: Tensor,
             batch_data_samples) -> Dict[str, Tensor]:
        losses = super().loss(batch_inputs, batch_data_samples)
        # RuntimeInfoHook stores the 0-based iteration before each one
        current = MessageHub.get_current_instance().get_info('iter') + 1
        if current == self.nan_iter:
            for name in self.nan_losses:
                losses[name] = losses[name] * float('nan')
        return losses
