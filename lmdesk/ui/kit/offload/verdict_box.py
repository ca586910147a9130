"""The verdict in words and colour: "Fits · 1.9 GiB to spare" and what it means."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from lmdesk.core.estimate import Verdict
from lmdesk.ui.kit.theme import RADIUS, SPACING, VERDICT_COLORS

DOT = 10


def _tint(color: QColor, amount: float) -> QColor:
    """`color` mixed with white: the box's background, from the verdict's own colour."""
    return QColor(
        round(255 - (255 - color.red()) * amount),
        round(255 - (255 - color.green()) * amount),
        round(255 - (255 - color.blue()) * amount),
    )


class VerdictBox(QWidget):
    """A small framed box: a coloured dot, the headline in bold, the detail under it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._color = VERDICT_COLORS["cpu_only"]
        self.headline = QLabel()
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        font = self.headline.font()
        font.setBold(True)
        self.headline.setFont(font)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACING + DOT + SPACING, SPACING, SPACING, SPACING)
        layout.setSpacing(2)
        layout.addWidget(self.headline)
        layout.addWidget(self.detail)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)

    def set_verdict(self, verdict: Verdict) -> None:
        """Show `verdict`; labels are only touched when their text changes."""
        color = VERDICT_COLORS[verdict.fit.value]
        if color != self._color:
            self._color = color
            text = color.darker(175).name()
            self.headline.setStyleSheet(f"color: {text}")
            self.detail.setStyleSheet(f"color: {text}")
            self.update()  # the frame and the dot; the labels repaint themselves
        if self.headline.text() != verdict.headline:
            self.headline.setText(verdict.headline)
        if self.detail.text() != verdict.detail:
            self.detail.setText(verdict.detail)

    def color(self) -> QColor:
        return QColor(self._color)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        frame = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        painter.setPen(QPen(_tint(self._color, 0.45), 1))
        painter.setBrush(_tint(self._color, 0.12))
        painter.drawRoundedRect(frame, RADIUS, RADIUS)
        dot_y = SPACING + (self.headline.height() - DOT) / 2
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self._color)
        painter.drawEllipse(QRectF(SPACING, dot_y, DOT, DOT))
        painter.end()
