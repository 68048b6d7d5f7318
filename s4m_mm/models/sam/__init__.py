# Copyright (c) s4m-mm authors. All rights reserved.
from .base import BaseSAMAdapter
from .embed_cache import EmbeddingCache
from .embed_store import SAMEmbeddingStore, StoreKey
from .embeddings import SAMEmbeddings
from .lite_medsam import LITE_MEDSAM_CHECKPOINT, LiteMedSAMAdapter
from .predictor import SAMPredictor
from .sam1 import SAMAdapter
from .sam2 import SAM2Adapter
from .variants import SAM_ADAPTERS, sam_adapter_config

__all__ = [
    'BaseSAMAdapter', 'SAMAdapter', 'LiteMedSAMAdapter', 'SAM2Adapter',
    'SAMPredictor', 'SAMEmbeddings', 'EmbeddingCache', 'SAMEmbeddingStore',
    'StoreKey', 'LITE_MEDSAM_CHECKPOINT', 'SAM_ADAPTERS', 'sam_adapter_config'
]
