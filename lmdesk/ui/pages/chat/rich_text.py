"""Text blocks that are exactly as tall as their text: Markdown prose and code panels.

A `QTextBrowser` renders Markdown well (lists, tables, inline code, links);
here it never scrolls by itself: its height follows the document, so the
message view's one scroll bar scrolls everything. Updating a block lays out
only that block's document, which is what keeps streaming cheap.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication, QResizeEvent, QTextOption
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

CODE_BG = "#1f2937"
CODE_TEXT = "#e5e7eb"
CODE_MUTED = "#9ca3af"


class AutoHeightText(QTextBrowser):
    """Read-only, selectable text whose height is its document's height."""

    def __init__(
        self, parent: QWidget | None = None, *, markdown: bool = True, monospace: bool = False
    ) -> None:
        super().__init__(parent)
        self._source = ""
        self._markdown = markdown and not monospace
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setOpenExternalLinks(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.DefaultContextMenu)
        self.setStyleSheet("QTextBrowser { background: transparent; }")
        self.viewport().setAutoFillBackground(False)
        self.document().setDocumentMargin(0)
        if monospace:
            self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
            self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.document().documentLayout().documentSizeChanged.connect(self._fit_height)
        self.setFixedHeight(self.fontMetrics().height())

    def source_text(self) -> str:
        return self._source

    def set_source_text(self, text: str) -> None:
        """Show ``text`` (Markdown, or plain for code); nothing happens if it is unchanged."""
        if text == self._source:
            return
        self._source = text
        if self._markdown:
            self.setMarkdown(text)
        else:
            self.setPlainText(text)

    def ideal_width(self, max_width: int) -> int:
        """The narrowest width that shows the text without extra wrapping, up to ``max_width``."""
        document = self.document().clone(self)
        document.setTextWidth(max_width)
        width = min(max_width, math.ceil(document.idealWidth()) + 2)
        document.deleteLater()
        return width

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.document().setTextWidth(self.viewport().width())
        self._fit_height()

    def _fit_height(self) -> None:
        height = math.ceil(self.document().size().height())
        if height != self.height():
            self.setFixedHeight(max(height, self.fontMetrics().height()))

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), self.height())


class CodeBlock(QFrame):
    """A dark code panel with its language and a Copy button."""

    copied = Signal(str)
    """The code that was put on the clipboard."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("codeBlock")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(
            f"#codeBlock {{ background: {CODE_BG}; border-radius: 8px; }}"
            f"#codeBlock QLabel {{ color: {CODE_MUTED}; }}"
            f"#codeBlock QTextBrowser {{ color: {CODE_TEXT}; background: transparent; }}"
            f"#codeBlock QToolButton {{ color: {CODE_MUTED}; border: none; padding: 0 4px; }}"
            "#codeBlock QToolButton:hover { color: white; }"
        )
        self.language = QLabel()
        self.copy_button = QToolButton()
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip("Copy this code")
        self.copy_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.copy_button.clicked.connect(self.copy)
        self.code = AutoHeightText(monospace=True)
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.language)
        header.addStretch(1)
        header.addWidget(self.copy_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(12, 6, 12, 10)
        box.setSpacing(4)
        box.addLayout(header)
        box.addWidget(self.code)

    def set_code(self, code: str, language: str) -> None:
        self.language.setText(language or "code")
        self.code.set_source_text(code)

    def copy(self) -> None:
        text = self.code.source_text()
        QGuiApplication.clipboard().setText(text)
        self.copied.emit(text)
