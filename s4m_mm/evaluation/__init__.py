# Copyright (c) s4m-mm authors. All rights reserved.
from .arp_replay import cut_masks, replay_arp_masks
from .named_evaluator import NamedEvaluator
from .pseudo_label_quality import (CocoGroundTruthMasks, batch_quality,
                                   clip_to_image, match_masks, masks_to_view,
                                   pseudo_label_quality)

__all__ = [
    'CocoGroundTruthMasks', 'batch_quality', 'clip_to_image', 'cut_masks',
    'match_masks', 'masks_to_view', 'NamedEvaluator', 'pseudo_label_quality',
    'replay_arp_masks'
]
