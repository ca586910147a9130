"""Search results as a Qt list model: one `RepoSummary` per row, pages appended as they come.

`DisplayRole` is the repository id; the other fields have their own roles, and
`SUMMARY_ROLE` returns the whole summary (the delegate and the repository view use it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from lmdesk.core.hub import RepoSummary

SUMMARY_ROLE = Qt.ItemDataRole.UserRole + 1
AUTHOR_ROLE = Qt.ItemDataRole.UserRole + 2
DOWNLOADS_ROLE = Qt.ItemDataRole.UserRole + 3
LIKES_ROLE = Qt.ItemDataRole.UserRole + 4
UPDATED_ROLE = Qt.ItemDataRole.UserRole + 5
TAGS_ROLE = Qt.ItemDataRole.UserRole + 6

Index = QModelIndex | QPersistentModelIndex
# Tags every result has, or that say nothing to a person choosing a model.
BORING_TAGS = frozenset({"gguf", "endpoints_compatible", "region:us", "conversational"})


def short_count(n: int) -> str:
    """1234 -> '1.2k', 5_600_000 -> '5.6M'."""
    for limit, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if n >= limit:
            return f"{n / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return str(n)


def updated_text(when: datetime | None) -> str:
    return when.strftime("%b %d, %Y").replace(" 0", " ") if when else ""


def shown_tags(summary: RepoSummary, limit: int = 4) -> list[str]:
    tags = [t for t in summary.tags if t not in BORING_TAGS and ":" not in t]
    return tags[:limit]


class ResultsModel(QAbstractListModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[RepoSummary] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return r.repo_id
        if role == Qt.ItemDataRole.ToolTipRole:
            gated = " · gated: needs a Hugging Face login" if r.gated else ""
            return f"{r.repo_id}\n{r.downloads:,} downloads · {r.likes:,} likes{gated}"
        values = {
            SUMMARY_ROLE: r,
            AUTHOR_ROLE: r.author,
            DOWNLOADS_ROLE: r.downloads,
            LIKES_ROLE: r.likes,
            UPDATED_ROLE: updated_text(r.last_modified),
            TAGS_ROLE: ", ".join(shown_tags(r)),
        }
        return values.get(role)

    def summary(self, row: int) -> RepoSummary:
        return self._rows[row]

    def repo_ids(self) -> list[str]:
        return [r.repo_id for r in self._rows]

    def clear(self) -> None:
        if self._rows:
            self.beginResetModel()
            self._rows = []
            self.endResetModel()

    def append(self, results: list[RepoSummary]) -> None:
        """Add a page of results, skipping any repository already listed."""
        seen = {r.repo_id for r in self._rows}
        fresh = []
        for result in results:
            if result.repo_id not in seen:
                seen.add(result.repo_id)
                fresh.append(result)
        if not fresh:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        self._rows.extend(fresh)
        self.endInsertRows()
