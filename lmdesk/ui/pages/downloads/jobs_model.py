"""The download queue as a Qt list model: one row per job, in the order jobs were added.

Rows hold `JobSnapshot`s (plain data from the core). `DisplayRole` is the file name;
`SNAPSHOT_ROLE` the whole snapshot; `STATUS_ROLE` the status line a row shows;
`PROGRESS_ROLE` progress in thousandths (-1 when the size is not known yet).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from lmdesk.core.downloads import FINISHED, JobSnapshot
from lmdesk.ui.kit.download_text import status_line

SNAPSHOT_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_ROLE = Qt.ItemDataRole.UserRole + 2
PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 3

Index = QModelIndex | QPersistentModelIndex


def progress_permille(snapshot: JobSnapshot) -> int:
    if not snapshot.total:
        return -1
    return max(0, min(1000, round(1000 * snapshot.bytes_done / snapshot.total)))


class DownloadsModel(QAbstractListModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[JobSnapshot] = []
        self._index: dict[str, int] = {}

    # -- Qt model ------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        snapshot = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return snapshot.filename.rsplit("/", 1)[-1]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{snapshot.repo_id}/{snapshot.filename}"
        if role == SNAPSHOT_ROLE:
            return snapshot
        if role == STATUS_ROLE:
            return status_line(snapshot)
        if role == PROGRESS_ROLE:
            return progress_permille(snapshot)
        return None

    def update(self, snapshot: JobSnapshot) -> None:
        """Replace the job's row, or append it if the job is new."""
        row = self._index.get(snapshot.job_id)
        if row is None:
            row = len(self._rows)
            self.beginInsertRows(QModelIndex(), row, row)
            self._rows.append(snapshot)
            self._index[snapshot.job_id] = row
            self.endInsertRows()
            return
        self._rows[row] = snapshot
        index = self.index(row, 0)
        self.dataChanged.emit(index, index)

    def snapshot(self, row: int) -> JobSnapshot:
        return self._rows[row]

    def row_of(self, job_id: str) -> int | None:
        return self._index.get(job_id)

    def snapshots(self) -> list[JobSnapshot]:
        return list(self._rows)

    def remove_finished(self) -> int:
        """Drop finished jobs (done, failed, cancelled) from the list; returns how many."""
        keep = [s for s in self._rows if s.state not in FINISHED]
        removed = len(self._rows) - len(keep)
        if removed:
            self.beginResetModel()
            self._rows = keep
            self._index = {s.job_id: i for i, s in enumerate(keep)}
            self.endResetModel()
        return removed
