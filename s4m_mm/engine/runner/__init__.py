# Copyright (c) s4m-mm authors. All rights reserved.
from .custom_settings import PLACEHOLDERS, SETTINGS, apply_custom_settings
from .s4m_runner import S4MRunner

__all__ = ['S4MRunner', 'apply_custom_settings', 'PLACEHOLDERS', 'SETTINGS']
