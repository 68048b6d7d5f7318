# Copyright (c) s4m-mm authors. All rights reserved.
from .assets import resolve_asset_path

__all__ = ['resolve_asset_path']
