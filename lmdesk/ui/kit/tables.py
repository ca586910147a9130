"""One look for the app's tables: a rounded card, quiet headers, a light selection.

A light selection (instead of the solid accent) keeps the coloured verdicts readable
on the selected row.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
)

TABLE_STYLE = """
QTableView {
    background: palette(base); alternate-background-color: palette(alternate-base);
    border: 1px solid palette(midlight); border-radius: 10px; padding: 2px;
    selection-background-color: rgba(59, 130, 246, 0.16);
}
QTableView::item { padding: 0 6px; border: none; }
QHeaderView::section {
    background: palette(base); color: palette(placeholder-text); border: none;
    border-bottom: 1px solid palette(midlight); padding: 7px 6px; font-weight: 600;
}
QTableCornerButton::section { background: palette(base); border: none; }
"""


def style_table(table: QTableView, *, row_height: int = 36) -> None:
    """Rounded, gridless rows of `row_height`, left-aligned headers, no row numbers."""
    table.setStyleSheet(TABLE_STYLE)
    palette = table.palette()
    palette.setColor(QPalette.ColorRole.HighlightedText, palette.color(QPalette.ColorRole.Text))
    table.setPalette(palette)
    table.setItemDelegate(KeepColorsDelegate(table))
    table.setShowGrid(False)
    table.setWordWrap(False)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setTextElideMode(Qt.TextElideMode.ElideRight)
    table.verticalHeader().hide()
    table.verticalHeader().setDefaultSectionSize(row_height)
    header = table.horizontalHeader()
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    header.setHighlightSections(False)


class KeepColorsDelegate(QStyledItemDelegate):
    """Selected cells keep their own text colour (the verdict colours) instead of one."""

    def initStyleOption(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        brush = index.data(Qt.ItemDataRole.ForegroundRole)
        if isinstance(brush, QBrush):
            option.palette.setBrush(QPalette.ColorRole.HighlightedText, brush)
