"""Downloads: the queue, one card per file, with its progress and the buttons its state allows.

The page is a view of `DownloadsModel`, which is fed by the shared `DownloadService`;
the rows mirror the model's rows (inserted, changed, reset).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

from lmdesk.core.downloads import JobSnapshot
from lmdesk.ui.kit.download_text import display_path
from lmdesk.ui.kit.widgets import heading, muted, secondary_button
from lmdesk.ui.pages.downloads.job_row import JobRow
from lmdesk.ui.pages.downloads.jobs_model import DownloadsModel
from lmdesk.ui.services.context import AppContext
from lmdesk.ui.services.downloads import DownloadService, download_service
from lmdesk.ui.services.errors import show_error


class DownloadsPage(QWidget):
    def __init__(
        self,
        context: AppContext,
        *,
        service: DownloadService | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("downloadsPage")
        self._context = context
        self.service = service or download_service(context)
        self.model = DownloadsModel(self)
        self.rows: dict[str, JobRow] = {}

        self.clear_button = secondary_button("Clear finished")
        self.clear_button.clicked.connect(self.model.remove_finished)
        self.discover_button = secondary_button("Find models in Discover")
        self.discover_button.clicked.connect(
            lambda: context.signals.navigate_requested.emit("discover")
        )
        self.empty = muted("No downloads yet. Pick a model in Discover and press Download.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._list = QVBoxLayout()
        self._list.setSpacing(10)
        self._list.setContentsMargins(0, 0, 0, 0)
        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(self._list)
        column.addWidget(self.empty)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)

        top = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(2)
        titles.addWidget(heading("Downloads", scale=1.6))
        self.folder = muted("")
        titles.addWidget(self.folder)
        top.addLayout(titles, 1)
        top.addWidget(self.discover_button, 0, Qt.AlignmentFlag.AlignBottom)
        top.addWidget(self.clear_button, 0, Qt.AlignmentFlag.AlignBottom)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 22, 28, 22)
        layout.setSpacing(14)
        layout.addLayout(top)
        layout.addWidget(scroll, 1)

        self.model.rowsInserted.connect(self._on_inserted)
        self.model.dataChanged.connect(self._on_changed)
        self.model.modelReset.connect(self._rebuild)
        for snapshot in self.service.snapshots():
            self.model.update(snapshot)
        self.service.sig_snapshot.connect(self.model.update)
        self.service.sig_folder_changed.connect(self._show_folder)
        self.service.manager  # noqa: B018  # start the queue: it resumes what was left
        self._show_folder(self.service.models_dir)
        self._update_empty()

    def _show_folder(self, folder: Path) -> None:
        self.folder.setText(f"Saved to {display_path(folder)}")

    def row(self, job_id: str) -> JobRow:
        return self.rows[job_id]

    def shutdown(self) -> None:
        """Nothing of its own runs in the background: the queue belongs to the service."""

    def wait(self, timeout_s: float = 10.0) -> bool:
        return True

    # -- model -> rows -------------------------------------------------------------------
    def _on_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        for row in range(first, last + 1):
            self._add_row(self.model.snapshot(row), row)
        self._update_empty()

    def _on_changed(self, top_left: QModelIndex, bottom_right: QModelIndex) -> None:
        for row in range(top_left.row(), bottom_right.row() + 1):
            snapshot = self.model.snapshot(row)
            widget = self.rows.get(snapshot.job_id)
            if widget is not None:
                widget.set_snapshot(snapshot)

    def _rebuild(self) -> None:
        for widget in self.rows.values():
            self._list.removeWidget(widget)
            widget.deleteLater()
        self.rows = {}
        for row, snapshot in enumerate(self.model.snapshots()):
            self._add_row(snapshot, row)
        self._update_empty()

    def _add_row(self, snapshot: JobSnapshot, position: int) -> None:
        widget = JobRow(snapshot)
        widget.action.connect(self._on_action)
        self.rows[snapshot.job_id] = widget
        self._list.insertWidget(position, widget)

    def _update_empty(self) -> None:
        has_rows = self.model.rowCount() > 0
        self.empty.setVisible(not has_rows)
        self.clear_button.setEnabled(has_rows)

    # -- buttons -------------------------------------------------------------------------
    def _on_action(self, job_id: str, action: str) -> None:
        if action == "show":
            self._context.signals.navigate_requested.emit("library")
            return
        try:
            self.service.control(action, job_id)
        except (KeyError, OSError) as exc:
            show_error(self, f"Could not {action} the download: {exc}")
