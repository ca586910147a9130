"""One look for the app's tables: a rounded card, quiet headers, a light selection.

A light selection (instead of the solid accent) keeps the coloured verdicts readable
on the selected row. `ColumnsThatYield` hides the less needed columns of a narrow table
instead of squeezing its name or scrolling its buttons out of sight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPersistentModelIndex, Qt, QTimer
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


class ColumnsThatYield(QObject):
    """Hides `droppable` columns, first ones first, while the table is too narrow for what it
    shows: every shown column at its width, and at least `min_stretch` pixels for the
    stretching column `stretch`; shows them again when there is room. No sideways scrolling.

    A column in `budget` counts for its budgeted width, not its current one: a passing long
    text ("Reading the header…") must not hide the others for good.
    """

    def __init__(
        self,
        table: QTableView,
        droppable: Sequence[int],
        *,
        stretch: int,
        min_stretch: int,
        budget: Mapping[int, int] | None = None,
    ) -> None:
        super().__init__(table)
        self._table, self._droppable = table, list(droppable)
        self._stretch, self._min_stretch = stretch, min_stretch
        self._budget = dict(budget or {})
        self._later = QTimer(self)  # after the layout that asked: hiding inside it breaks it
        self._later.setSingleShot(True)
        self._later.setInterval(0)
        self._later.timeout.connect(self.fit)
        table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        table.horizontalHeader().sectionResized.connect(lambda *_: self._later.start())
        table.viewport().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self._later.start()
        return False

    def _width(self, column: int) -> int:
        if column == self._stretch:
            return self._min_stretch
        if column in self._budget:
            return self._budget[column]
        if self._table.isColumnHidden(column):  # its width when shown
            return max(
                self._table.sizeHintForColumn(column),
                self._table.horizontalHeader().sectionSizeHint(column),
            )
        return self._table.horizontalHeader().sectionSize(column)

    def fit(self) -> None:
        """Hide and show columns for the table's width now."""
        room = self._table.viewport().width()
        count = self._table.horizontalHeader().count()
        shown = set(range(count))
        for column in self._droppable:
            if sum(self._width(c) for c in shown) <= room:
                break
            shown.discard(column)
        for column in self._droppable:
            hide = column not in shown
            if hide != self._table.isColumnHidden(column):
                self._table.setColumnHidden(column, hide)
