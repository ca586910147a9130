"""The message box: Enter sends, Shift+Enter adds a line, Esc stops; Send/Stop; context gauge."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lmdesk.ui.kit.widgets import PRIMARY_STYLE

MAX_LINES = 8
STOP_STYLE = """
QPushButton { background: #ef4444; color: white; border: none; border-radius: 8px;
              padding: 7px 16px; font-weight: 600; }
QPushButton:hover { background: #dc2626; }
"""
GAUGE_COLORS = (("#22c55e", 0.8), ("#f59e0b", 1.0), ("#ef4444", float("inf")))


class ComposerEdit(QPlainTextEdit):
    send_requested = Signal()
    stop_requested = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            mods & Qt.KeyboardModifier.ShiftModifier
        ):
            self.send_requested.emit()
            return
        if key == Qt.Key.Key_Escape:
            self.stop_requested.emit()
            return
        super().keyPressEvent(event)


class ContextGauge(QWidget):
    """ "context 1,204 / 8,192 tokens" and a thin bar; amber near the limit, red over it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setStyleSheet("color: palette(placeholder-text);")
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setRange(0, 1000)
        self.bar.setFixedSize(180, 6)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        row.addWidget(self.label)
        row.addWidget(self.bar)
        row.addStretch(1)
        self.used = 0
        self.total = 0
        self.exact = False
        self._color = ""
        self.set_usage(0, 0)

    def set_usage(self, used: int, total: int, *, exact: bool = True) -> None:
        self.used, self.total, self.exact = used, total, exact
        if total <= 0:
            self.label.setText("context —")
            self.bar.setValue(0)
            self._paint_bar(GAUGE_COLORS[0][0])
            self.setToolTip("Load a model to see how much of its context this chat uses.")
            return
        approx = "" if exact else "~"
        self.label.setText(f"context {approx}{used:,} / {total:,} tokens")
        fraction = used / total
        color = next(c for c, limit in GAUGE_COLORS if fraction <= limit)
        self.bar.setValue(min(1000, round(fraction * 1000)))
        self._paint_bar(color)
        over = (
            "The conversation is longer than the context: the oldest messages will be "
            "left out (or the reply refused, per Settings › context policy)."
            if used > total
            else ""
        )
        how = "counted by the model" if exact else "estimated (exact count when the model is idle)"
        self.setToolTip(f"Tokens the next prompt takes, {how}. {over}".strip())

    def _paint_bar(self, color: str) -> None:
        """Restyle only when the colour changes: a style sheet is costly to apply per token."""
        if color == self._color:
            return
        self._color = color
        self.bar.setStyleSheet(
            "QProgressBar { background: palette(midlight); border: none; border-radius: 3px; }"
            f"QProgressBar::chunk {{ background: {color}; border-radius: 3px; }}"
        )


class Composer(QFrame):
    send_requested = Signal(str)
    """The text to send (the box is cleared by the page once it is accepted)."""
    stop_requested = Signal()
    draft_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composer")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(
            "#composer { background: palette(base); border: 1px solid palette(mid);"
            " border-radius: 12px; }"
            "#composer QPlainTextEdit { border: none; background: transparent; }"
        )
        self._streaming = False
        self.edit = ComposerEdit()
        self.edit.setPlaceholderText("Message… (Enter to send, Shift+Enter for a new line)")
        self.edit.setTabChangesFocus(True)
        self.edit.send_requested.connect(self._send)
        self.edit.stop_requested.connect(self.stop_requested)
        self.edit.textChanged.connect(self._on_text_changed)
        self.send_button = QPushButton("Send")
        self.send_button.setStyleSheet(PRIMARY_STYLE)
        self.send_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.send_button.clicked.connect(self._send)
        self.stop_button = QPushButton("■ Stop")
        self.stop_button.setStyleSheet(STOP_STYLE)
        self.stop_button.setToolTip("Stop the reply (Esc)")
        self.stop_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.stop_button.clicked.connect(self.stop_requested)
        self.stop_button.hide()
        self.gauge = ContextGauge()
        bottom = QHBoxLayout()
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.addWidget(self.gauge, 1)
        bottom.addWidget(self.stop_button)
        bottom.addWidget(self.send_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(14, 10, 10, 10)
        box.setSpacing(6)
        box.addWidget(self.edit)
        box.addLayout(bottom)
        self._fit_height()

    def text(self) -> str:
        return self.edit.toPlainText()

    def clear(self) -> None:
        self.edit.clear()

    def set_placeholder(self, text: str) -> None:
        self.edit.setPlaceholderText(text)

    def set_streaming(self, streaming: bool) -> None:
        self._streaming = streaming
        self.stop_button.setVisible(streaming)
        self.send_button.setVisible(not streaming)

    def set_can_send(self, can_send: bool, reason: str = "") -> None:
        """Enable Send; the box stays editable so a draft can be written meanwhile."""
        self.send_button.setEnabled(can_send)
        self.send_button.setToolTip(reason)

    def _send(self) -> None:
        # Enter while Send is disabled still asks: the page then says why (no model yet).
        if self._streaming:
            return
        text = self.text()
        if text.strip():
            self.send_requested.emit(text)

    def _on_text_changed(self) -> None:
        self._fit_height()
        self.draft_changed.emit(self.text())

    def _fit_height(self) -> None:
        lines = max(1, min(MAX_LINES, self.edit.document().blockCount()))
        wrapped = max(lines, min(MAX_LINES, int(self.edit.document().size().height())))
        height = wrapped * self.edit.fontMetrics().lineSpacing() + 12
        self.edit.setFixedHeight(max(height, 2 * self.edit.fontMetrics().lineSpacing() + 12))
