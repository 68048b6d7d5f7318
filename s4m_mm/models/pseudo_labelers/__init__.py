# Copyright (c) s4m-mm authors. All rights reserved.
from .prediction_pseudo_labeler import PredictionPseudoLabeler
from .query_pseudo_labeler import QueryPseudoLabeler

__all__ = ['PredictionPseudoLabeler', 'QueryPseudoLabeler']
