"""Small building blocks shared by the shell's pages: cards, headings, buttons, bars.

Colours come from the palette (`palette(base)` in style sheets), so they
follow the light and dark themes.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from lmdesk.ui.kit.theme import ACCENT

PRIMARY_STYLE = f"""
QPushButton {{
    background: {ACCENT.name()}; color: white; border: none; border-radius: 8px;
    padding: 9px 18px; font-weight: 600;
}}
QPushButton:hover {{ background: #2563eb; }}
QPushButton:pressed {{ background: #1d4ed8; }}
QPushButton:disabled {{ background: #93c5fd; color: #eff6ff; }}
"""
SECONDARY_STYLE = """
QPushButton {
    background: palette(base); color: palette(text); border: 1px solid palette(mid);
    border-radius: 8px; padding: 8px 16px;
}
QPushButton:hover { border-color: #3b82f6; }
"""


class Card(QFrame):
    """A rounded panel on the page background; children go into `layout()`."""

    def __init__(self, parent: QWidget | None = None, *, padding: int = 16) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(
            "#card { background: palette(base); border: 1px solid palette(midlight);"
            " border-radius: 12px; }"
        )
        box = QVBoxLayout(self)
        box.setContentsMargins(padding, padding, padding, padding)
        box.setSpacing(8)
        self.box = box


def heading(text: str, *, scale: float = 1.3, bold: bool = True) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * scale)
    font.setBold(bold)
    label.setFont(font)
    return label


def muted(text: str, *, wrap: bool = True) -> QLabel:
    """Secondary text: smaller contrast, wraps by default."""
    label = QLabel(text)
    label.setWordWrap(wrap)
    label.setStyleSheet("color: palette(placeholder-text);")
    return label


def primary_button(text: str) -> QPushButton:
    button = QPushButton(text)
    button.setStyleSheet(PRIMARY_STYLE)
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button


def secondary_button(text: str) -> QPushButton:
    button = QPushButton(text)
    button.setStyleSheet(SECONDARY_STYLE)
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button


def usage_bar(color: str = ACCENT.name(), *, height: int = 10) -> QProgressBar:
    """A thin bar without text, for memory used / total."""
    bar = QProgressBar()
    bar.setTextVisible(False)
    bar.setFixedHeight(height)
    bar.setRange(0, 1000)
    radius = height // 2
    bar.setStyleSheet(
        f"QProgressBar {{ background: palette(midlight); border: none;"
        f" border-radius: {radius}px; }}"
        f"QProgressBar::chunk {{ background: {color}; border-radius: {radius}px; }}"
    )
    return bar


def set_fraction(bar: QProgressBar, used: int, total: int) -> None:
    bar.setValue(round(1000 * used / total) if total > 0 else 0)
