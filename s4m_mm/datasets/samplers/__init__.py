# Copyright (c) s4m-mm authors. All rights reserved.
from .repeat_factor_multi_source_sampler import (
    RepeatFactorMultiSourceSampler, repeat_factors_from_category_frequency)

__all__ = [
    'RepeatFactorMultiSourceSampler', 'repeat_factors_from_category_frequency'
]
