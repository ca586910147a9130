"""Typed settings with defaults, bounds and descriptions, saved as JSON.

`load_settings()` never raises (problems are in `settings.warnings`);
`dataclasses.replace(settings, theme="dark")` raises ValueError for a bad
value; `save_settings(settings)` writes atomically.
"""

from lmdesk.core.settings.migrations import SCHEMA_VERSION, migrate
from lmdesk.core.settings.schema import (
    LoadDefaults,
    ModelLoadSettings,
    SamplingDefaults,
    ServerSettings,
    Settings,
)
from lmdesk.core.settings.store import load_settings, save_settings
from lmdesk.core.settings.validation import SettingInfo, setting_info

__all__ = [
    "SCHEMA_VERSION",
    "LoadDefaults",
    "ModelLoadSettings",
    "SamplingDefaults",
    "ServerSettings",
    "SettingInfo",
    "Settings",
    "load_settings",
    "migrate",
    "save_settings",
    "setting_info",
]
