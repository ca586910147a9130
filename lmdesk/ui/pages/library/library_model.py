"""My Models as a Qt table: one `LibraryEntry` per row, with its verdict for the chosen GPU.

Files that cannot be used (truncated, corrupt) stay listed, greyed, with the reason in
the verdict column. `LibraryProxy` sorts by the underlying values (`SORT_ROLE`) and
filters by the text typed in the page's filter box.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from lmdesk.core.estimate import FitWords
from lmdesk.core.library import LibraryEntry
from lmdesk.core.units import format_size
from lmdesk.ui.kit.fit_target import verdict_brush, verdict_icon
from lmdesk.ui.kit.row_table import Index, RowTableModel

NAME, ARCH, PARAMS, QUANT, SIZE, CONTEXT, SOURCE, FIT = range(8)
HEADERS = (
    "Name",
    "Architecture",
    "Parameters",
    "Quant",
    "Size",
    "Context",
    "Source",
    "Fits the GPU?",
)
ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
WORDS_ROLE = Qt.ItemDataRole.UserRole + 3
GREY = QColor("#9ca3af")
VISION_BADGE = "· vision"
"""After the name of a model whose vision projector sits beside it (it reads pictures)."""


def parameters_text(count: int, label: str | None = None) -> str:
    if label:
        return label
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if count >= limit:
            value = count / limit
            return f"{value:.1f}{suffix}" if value < 10 else f"{value:.0f}{suffix}"
    return str(count)


class LibraryModel(RowTableModel[LibraryEntry]):
    headers = HEADERS

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._words: dict[Path, FitWords] = {}

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        entry = self.row_at(index)
        if entry is None:
            return None
        column = index.column()
        words = self._words.get(entry.path)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(entry, column, words)
        if role == SORT_ROLE:
            return self._sort_key(entry, column, words)
        if role == ENTRY_ROLE:
            return entry
        if role == WORDS_ROLE:
            return words
        if role == Qt.ItemDataRole.ToolTipRole:
            if not entry.is_ok:
                return f"{entry.path}\nCannot be used: {entry.error}"
            if column == NAME and entry.projector is not None:
                return f"{entry.path}\nReads pictures: loaded with {entry.projector.name}"
            return words.detail if column == FIT and words else str(entry.path)
        if role == Qt.ItemDataRole.ForegroundRole:
            if not entry.is_ok:
                return QBrush(GREY)
            return verdict_brush(words.kind) if column == FIT and words else None
        if role == Qt.ItemDataRole.DecorationRole and column == FIT and entry.is_ok and words:
            return verdict_icon(words.kind)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (PARAMS, SIZE, CONTEXT):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _display(self, entry: LibraryEntry, column: int, words: FitWords | None) -> str:
        model = entry.model
        if column == NAME:
            return f"{entry.name}  {VISION_BADGE}" if entry.sees_images else entry.name
        if column == SIZE:
            return format_size(entry.size)
        if column == SOURCE:
            return entry.source.value
        if column == FIT:
            if not entry.is_ok:
                return f"Cannot be used: {entry.error}"
            return words.text if words else "…"
        if model is None:
            return "—"
        if column == ARCH:
            return model.architecture
        if column == PARAMS:
            return parameters_text(model.parameter_count, model.size_label)
        if column == QUANT:
            return model.quantization
        if column == CONTEXT:
            return f"{model.n_ctx_train:,}" if model.n_ctx_train else "—"
        return ""

    def _sort_key(self, entry: LibraryEntry, column: int, words: FitWords | None) -> Any:
        model = entry.model
        numbers = {
            PARAMS: model.parameter_count if model else 0,
            SIZE: entry.size,
            CONTEXT: model.n_ctx_train if model else 0,
        }
        if column in numbers:
            return numbers[column]
        return str(self._display(entry, column, words)).lower()

    # -- updates -------------------------------------------------------------------------
    def set_entries(self, entries: list[LibraryEntry], words: dict[Path, FitWords]) -> None:
        self.beginResetModel()
        self._rows = list(entries)
        self._words = dict(words)
        self.endResetModel()

    def set_words(self, words: dict[Path, FitWords]) -> None:
        self._words = dict(words)
        if self._rows:
            self.dataChanged.emit(self.index(0, FIT), self.index(len(self._rows) - 1, FIT))

    def entries(self) -> list[LibraryEntry]:
        return list(self._rows)

    def entry(self, row: int) -> LibraryEntry:
        return self._rows[row]

    def words(self, path: Path) -> FitWords | None:
        return self._words.get(path)


class LibraryProxy(QSortFilterProxyModel):
    """Sorted by value, filtered by name, architecture, quantization or path."""

    def __init__(self, source: LibraryModel, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSourceModel(source)
        self.setSortRole(SORT_ROLE)
        self._text = ""

    def set_text(self, text: str) -> None:
        """Show only rows whose name, path, architecture or quantization contain `text`."""
        if not hasattr(self, "beginFilterChange"):  # Qt before 6.9
            self._text = text.strip().lower()
            self.invalidateRowsFilter()
            return
        self.beginFilterChange()
        self._text = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        pattern = self._text
        if not pattern:
            return True
        model = self.sourceModel()
        assert isinstance(model, LibraryModel)
        entry = model.entry(source_row)
        info = entry.model
        haystack = " ".join(
            [
                entry.name,
                str(entry.path),
                info.architecture if info else "",
                info.quantization if info else "",
            ]
        ).lower()
        return pattern in haystack
