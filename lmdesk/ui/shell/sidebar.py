"""The narrow dark strip on the left: one button per page, Settings at the bottom.

It stays dark in the light theme too (as in the wireframe), so it sets its
own colours rather than following the app palette.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QButtonGroup, QFrame, QToolButton, QVBoxLayout, QWidget

from lmdesk.ui.kit.icons import line_icon
from lmdesk.ui.kit.theme import ACCENT, SIDEBAR_BG, SIDEBAR_TEXT

WIDTH = 80

_STYLE = f"""
#sidebar {{ background: {SIDEBAR_BG.name()}; }}
#sidebar QToolButton {{
    color: {SIDEBAR_TEXT.name()}; background: transparent; border: none;
    border-radius: 10px; padding: 6px 2px; font-size: 11px;
}}
#sidebar QToolButton:hover {{ background: #2c3342; color: #ffffff; }}
#sidebar QToolButton:checked {{ background: {ACCENT.name()}; color: #ffffff; }}
#sidebar QToolButton:focus {{ outline: none; }}
"""


class Sidebar(QFrame):
    """Page buttons in registration order; exactly one is checked."""

    page_selected = Signal(str)
    """page key: the person clicked that page's button."""
    settings_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.setFixedWidth(WIDTH)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(_STYLE)
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self._buttons: dict[str, QToolButton] = {}
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(8, 10, 8, 10)
        self._layout.setSpacing(6)
        self._layout.addStretch(1)
        self.settings_button = self._make_button("Settings", "settings", checkable=False)
        self.settings_button.setToolTip("Settings (Ctrl+,)")
        self.settings_button.clicked.connect(self.settings_clicked)
        self._layout.addWidget(self.settings_button)

    def add_page(self, key: str, title: str, icon: str, shortcut: str | None = None) -> None:
        button = self._make_button(title, icon, checkable=True)
        button.setObjectName(f"sidebar-{key}")
        button.setToolTip(f"{title} ({shortcut})" if shortcut else title)
        button.clicked.connect(lambda _checked=False, k=key: self.page_selected.emit(k))
        self._group.addButton(button)
        self._buttons[key] = button
        self._layout.insertWidget(len(self._buttons) - 1, button)

    def button(self, key: str) -> QToolButton:
        return self._buttons[key]

    def set_current(self, key: str) -> None:
        """Check `key`'s button without emitting `page_selected`."""
        button = self._buttons.get(key)
        if button is not None:
            button.setChecked(True)

    def current(self) -> str | None:
        checked = self._group.checkedButton()
        return next((k for k, b in self._buttons.items() if b is checked), None)

    def _make_button(self, title: str, icon: str, *, checkable: bool) -> QToolButton:
        button = QToolButton(self)
        button.setText(title)
        button.setIcon(line_icon(icon, normal=SIDEBAR_TEXT, active=QColor("#ffffff")))
        button.setIconSize(QSize(22, 22))
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        button.setCheckable(checkable)
        button.setFixedSize(WIDTH - 16, 58)
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        return button
