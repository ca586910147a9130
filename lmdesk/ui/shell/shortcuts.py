"""The window's keyboard shortcuts, in one place so the sidebar tooltips can name them."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget

PAGE_KEYS = ("Ctrl+1", "Ctrl+2", "Ctrl+3", "Ctrl+4", "Ctrl+5", "Ctrl+6")
SETTINGS = "Ctrl+,"
NEW_CHAT = "Ctrl+N"
QUIT = "Ctrl+Q"
ABOUT = "F1"


def add_shortcut(parent: QWidget, keys: str, action: Callable[[], object]) -> QShortcut:
    shortcut = QShortcut(QKeySequence(keys), parent)
    shortcut.setObjectName(f"shortcut {keys}")
    shortcut.activated.connect(action)
    return shortcut
