# Copyright (c) s4m-mm authors. All rights reserved.
from .assets import resolve_asset_path
from .digest import tensor_digest, update_digest

__all__ = ['resolve_asset_path', 'tensor_digest', 'update_digest']
