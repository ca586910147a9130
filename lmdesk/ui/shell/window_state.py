"""Window geometry and the last page, kept in `config/window.ini` beside the settings.

A QSettings INI file in lmdesk's config folder (not Qt's default place),
so a throwaway `LMDESK_HOME` gets its own.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QWidget

from lmdesk.core import paths

FILE = "window.ini"


def _store() -> QSettings:
    return QSettings(str(paths.config_dir() / FILE), QSettings.Format.IniFormat)


def save_window_state(window: QWidget, page: str | None) -> None:
    store = _store()
    store.setValue("window/geometry", window.saveGeometry())
    if page:
        store.setValue("window/page", page)
    store.sync()


def restore_geometry(window: QWidget) -> bool:
    """Put `window` where it was; False when nothing was saved (the caller picks a size)."""
    geometry = _store().value("window/geometry")
    return isinstance(geometry, QByteArray) and window.restoreGeometry(geometry)


def last_page() -> str | None:
    value = _store().value("window/page")
    return value if isinstance(value, str) and value else None


def save_last_model(path: str) -> None:
    """The model the person loaded last: the app loads it again at the next start."""
    store = _store()
    store.setValue("chat/last_model", path)
    store.sync()


def last_model() -> str | None:
    value = _store().value("chat/last_model")
    return value if isinstance(value, str) and value else None
