"""The right column's smaller tabs: the system prompt, and the chat-template warning."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from lmdesk.ui.kit.widgets import muted

SAVE_DELAY_MS = 500


class SystemPromptTab(QWidget):
    """The conversation's system prompt, saved half a second after the last keystroke."""

    changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QPlainTextEdit()
        self.edit.setPlaceholderText(
            "Instructions the model follows throughout this conversation, e.g. "
            "“You are a concise assistant. Answer in British English.”"
        )
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SAVE_DELAY_MS)
        self._timer.timeout.connect(self.flush)
        self._loading = False
        self.edit.textChanged.connect(self._on_text_changed)
        box = QVBoxLayout(self)
        box.setContentsMargins(16, 16, 16, 16)
        box.addWidget(self.edit, 1)
        box.addWidget(muted("Saved with this conversation; used from the next reply on."))

    def set_text(self, text: str) -> None:
        self.flush()
        self._loading = True
        self.edit.setPlainText(text)
        self._loading = False

    def text(self) -> str:
        return self.edit.toPlainText()

    def flush(self) -> None:
        """Save a pending edit now (before switching conversations or sending)."""
        if self._timer.isActive():
            self._timer.stop()
            self.changed.emit(self.text())

    def _on_text_changed(self) -> None:
        if not self._loading:
            self._timer.start()


class TemplateBanner(QFrame):
    """Shown when the model file has no chat template: say so, and let the person pick one."""

    template_chosen = Signal(str)
    MESSAGE = (
        "This model file has no chat template (it may be a base model): your text is "
        "continued as plain completion. If it is a chat model, choose its format:"
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("templateBanner")
        self.setStyleSheet(
            "#templateBanner { background: #fffbeb; border: 1px solid #fde68a;"
            " border-radius: 8px; } #templateBanner QLabel { color: #92400e; }"
        )
        self.label = QLabel(self.MESSAGE)
        self.label.setWordWrap(True)
        self.combo = QComboBox()
        self.combo.activated.connect(lambda i: self.template_chosen.emit(self.combo.itemText(i)))
        self.note = QLabel()
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 8, 12, 8)
        row.addWidget(self.label, 1)
        row.addWidget(self.combo)
        row.addWidget(self.note)
        self.hide()

    def offer(self, templates: list[str], current: str, why: str = "", suggested: str = "") -> None:
        self.combo.clear()
        self.combo.addItems(templates)
        self.combo.setCurrentText(current)
        self.note.setText(f"suggested: {suggested}" if suggested and suggested != current else "")
        self.setToolTip(f"Suggested {suggested}: {why}" if suggested else why)
        self.show()

    def set_current(self, name: str, error: str = "") -> None:
        self.combo.setCurrentText(name)
        self.note.setText(error)
