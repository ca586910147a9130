"""How a search result looks: the model's name in bold, its publisher, counts and tags."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from lmdesk.core.hub import RepoSummary
from lmdesk.ui.kit.theme import ACCENT
from lmdesk.ui.pages.discover.results_model import (
    SUMMARY_ROLE,
    short_count,
    shown_tags,
    updated_text,
)

PAD_X, PAD_Y, LINE_GAP = 12, 9, 3


def meta_line(summary: RepoSummary) -> str:
    parts = [
        summary.author,
        f"↓ {short_count(summary.downloads)}",
        f"♥ {short_count(summary.likes)}",
    ]
    if summary.last_modified is not None:
        parts.append(updated_text(summary.last_modified))
    if summary.gated:
        parts.append("gated")
    return "  ·  ".join(parts)


class ResultDelegate(QStyledItemDelegate):
    """Two lines per result, plus a third for its tags when it has any."""

    def _fonts(self, option: QStyleOptionViewItem) -> tuple[QFont, QFont]:
        bold = QFont(option.font)
        bold.setBold(True)
        small = QFont(option.font)
        small.setPointSizeF(small.pointSizeF() * 0.9)
        return bold, small

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        bold, small = self._fonts(option)
        summary: RepoSummary | None = index.data(SUMMARY_ROLE)
        lines = 3 if summary is not None and shown_tags(summary) else 2
        height = QFontMetrics(bold).height() + (lines - 1) * (
            QFontMetrics(small).height() + LINE_GAP
        )
        return QSize(200, height + 2 * PAD_Y)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        summary: RepoSummary | None = index.data(SUMMARY_ROLE)
        if summary is None:
            super().paint(painter, option, index)
            return
        rect: QRect = option.rect
        palette: QPalette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if selected or hovered:
            fill = QColor(ACCENT)
            fill.setAlpha(40 if selected else 16)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(fill)
            painter.drawRoundedRect(rect.adjusted(4, 2, -4, -2), 8, 8)
        if selected:
            painter.setBrush(ACCENT)
            painter.drawRoundedRect(
                QRect(rect.left() + 4, rect.top() + 8, 3, rect.height() - 16), 1, 1
            )
        bold, small = self._fonts(option)
        text_rect = rect.adjusted(PAD_X, PAD_Y, -PAD_X, -PAD_Y)
        name = summary.repo_id.split("/", 1)[-1]
        painter.setFont(bold)
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        bold_height = QFontMetrics(bold).height()
        elided = QFontMetrics(bold).elidedText(name, Qt.TextElideMode.ElideRight, text_rect.width())
        painter.drawText(
            QRect(text_rect.left(), text_rect.top(), text_rect.width(), bold_height), 0, elided
        )
        painter.setFont(small)
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        small_height = QFontMetrics(small).height()
        y = text_rect.top() + bold_height + LINE_GAP
        lines = [meta_line(summary)]
        tags = shown_tags(summary)
        if tags:
            lines.append("  ".join(f"#{t}" for t in tags))
        for line in lines:
            elided = QFontMetrics(small).elidedText(
                line, Qt.TextElideMode.ElideRight, text_rect.width()
            )
            painter.drawText(QRect(text_rect.left(), y, text_rect.width(), small_height), 0, elided)
            y += small_height + LINE_GAP
        painter.restore()
