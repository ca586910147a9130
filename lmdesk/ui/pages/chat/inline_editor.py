"""Editing a message in place: a text box with Send/Save · Cancel, built on the first Edit.

Ctrl+Enter submits and Esc cancels, as the buttons do; the box grows with the
text, from two lines to twelve.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QVBoxLayout, QWidget

from lmdesk.ui.kit.widgets import primary_button, secondary_button


class _EditBox(QPlainTextEdit):
    submitted = Signal()
    cancelled = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.submitted.emit()
        elif event.key() == Qt.Key.Key_Escape:
            self.cancelled.emit()
        else:
            super().keyPressEvent(event)


class InlineEditor(QWidget):
    """The text box and Send/Save · Cancel that replace a message while it is edited."""

    submitted = Signal()
    cancelled = Signal()

    def __init__(self, action: str) -> None:
        super().__init__()
        self.text = _EditBox()
        self.text.submitted.connect(self.submitted)
        self.text.cancelled.connect(self.cancelled)
        self.save_button = primary_button(action)
        self.cancel_button = secondary_button("Cancel")
        self.save_button.clicked.connect(self.submitted)
        self.cancel_button.clicked.connect(self.cancelled)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.save_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.text)
        box.addLayout(buttons)

    def start(self, text: str) -> None:
        self.text.setPlainText(text)
        lines = max(2, min(12, text.count("\n") + 2))
        self.text.setFixedHeight(lines * self.text.fontMetrics().lineSpacing() + 16)
