"""The Download button of each model in a repository view, kept in step with the queue.

A button says what the queue knows of that model: Download, a percentage while it
downloads (click: open Downloads), Downloaded, or Retry after a failure. A split
model's parts are added together and its button sums them; a split model with parts
missing from the hub has no button (part 1 alone cannot load).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QHBoxLayout, QHeaderView, QPushButton, QTableView, QWidget

from lmdesk.core.downloads import JobSnapshot, JobState
from lmdesk.core.downloads.errors import DownloadError
from lmdesk.core.hub import HubError, RemoteModel
from lmdesk.ui.kit.compare_cards import CompareCardsDialog, open_compare_cards
from lmdesk.ui.pages.discover.files_model import ACTION, FilesModel
from lmdesk.ui.services.context import AppContext
from lmdesk.ui.services.downloads import DownloadService
from lmdesk.ui.services.errors import show_error

TONAL_STYLE = """
QPushButton {
    background: #eff6ff; color: #1d4ed8; border: 1px solid #bfdbfe; border-radius: 6px;
    padding: 4px 14px; font-weight: 600;
}
QPushButton:hover { background: #dbeafe; border-color: #93c5fd; }
QPushButton:pressed { background: #bfdbfe; }
QPushButton:disabled { background: transparent; color: #059669; border-color: transparent; }
"""
WIDEST = "Downloading 100%"  # the longest text a button shows: its width never jumps
COMPARE = "Compare"
BUTTON_GAP = 6
MOVING = (JobState.QUEUED, JobState.RUNNING, JobState.RETRYING, JobState.VERIFYING)


def button_state(model: RemoteModel, service: DownloadService) -> tuple[str, str]:
    """(text, what a click does: 'download' | 'open' | 'none' | 'hidden') for `model`'s button."""
    if not model.complete:
        return "", "hidden"
    snapshots = [service.snapshot(f"{model.repo_id}/{p.filename}") for p in model.parts]
    states = [s.state if s else None for s in snapshots]
    if all(s is JobState.DONE for s in states):
        return "Downloaded ✓", "none"
    if any(s in MOVING for s in states):
        return f"Downloading {_percent(snapshots)}%", "open"
    if any(s is JobState.PAUSED for s in states):
        return "Paused", "open"
    if any(s is JobState.FAILED for s in states):
        return "Retry download", "download"
    if all(service.in_library(model.repo_id, p.filename) for p in model.parts):
        return "Downloaded ✓", "none"
    return "Download", "download"


def _percent(snapshots: list[JobSnapshot | None]) -> int:
    known = [s for s in snapshots if s is not None and s.total]
    total = sum(s.total or 0 for s in known)
    done = sum(s.bytes_done for s in known)
    return int(100 * done / total) if total else 0


class DownloadButtons(QObject):
    """Puts a button in the ACTION column of `view` for every row of `files`."""

    def __init__(
        self,
        view: QTableView,
        files: FilesModel,
        service: DownloadService,
        context: AppContext,
    ) -> None:
        super().__init__(view)
        self._view, self._files, self._service, self._context = view, files, service, context
        self.buttons: dict[str, QPushButton] = {}  # model name -> button
        self.compare_buttons: dict[str, QPushButton] = {}  # model name -> Compare cards
        self.compare_dialog: CompareCardsDialog | None = None
        self._actions: dict[str, str] = {}
        files.modelReset.connect(self.rebuild)
        files.dataChanged.connect(lambda *_: self._refresh_compare())
        service.sig_snapshot.connect(self._on_snapshot)

    def rebuild(self) -> None:
        self.buttons, self._actions = {}, {}
        for row, file_row in enumerate(self._files.rows()):
            button = QPushButton("Download")
            button.setStyleSheet(TONAL_STYLE)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.setMinimumWidth(button.fontMetrics().horizontalAdvance(WIDEST) + 36)
            button.setObjectName(f"download-{file_row.model.name}")
            button.clicked.connect(lambda _=False, name=file_row.model.name: self.click(name))
            self.buttons[file_row.model.name] = button
            compare = QPushButton(COMPARE)
            compare.setToolTip(
                "Compare cards: this model on every card, the layers that fit and the speed"
            )
            compare.setObjectName(f"compare-{file_row.model.name}")
            compare.clicked.connect(lambda _=False, name=file_row.model.name: self.compare(name))
            self.compare_buttons[file_row.model.name] = compare
            cell = QWidget()
            box = QHBoxLayout(cell)
            box.setContentsMargins(4, 5, 14, 5)
            box.setSpacing(BUTTON_GAP)
            box.addWidget(button)
            box.addWidget(compare)
            self._view.setIndexWidget(self._files.index(row, ACTION), cell)
            self._refresh(file_row.model)
        self._refresh_compare()
        width = self._view.fontMetrics().horizontalAdvance(WIDEST) + 36 + 18 + BUTTON_GAP
        width += self._view.fontMetrics().horizontalAdvance(COMPARE) + 36
        self._view.horizontalHeader().setSectionResizeMode(ACTION, QHeaderView.ResizeMode.Fixed)
        self._view.horizontalHeader().resizeSection(ACTION, width)

    def click(self, name: str) -> None:
        model = self._model(name)
        if model is None:
            return
        action = self._actions.get(name, "download")
        if action == "open":
            self._context.signals.navigate_requested.emit("downloads")
            return
        if action != "download":
            return
        row = next(r for r in self._files.rows() if r.model.name == name)
        projector = self._files.needs_projector(row)
        wanted = [model] if projector is None else [model, projector]
        for item in wanted:  # the model, then its vision projector (the pair is needed)
            if item is projector and button_state(item, self._service)[1] != "download":
                continue  # already downloaded, or on its way
            try:
                self._service.add_model(item)
            except (DownloadError, HubError, RuntimeError) as exc:
                show_error(self._view, f"Could not download {item.name}: {exc}")
                break
        for item in wanted:
            self._refresh(item)

    def compare(self, name: str) -> CompareCardsDialog | None:
        """Open Compare cards for the model `name` once its header is read (non-modal)."""
        row = next((r for r in self._files.rows() if r.model.name == name), None)
        if row is None or row.info is None:
            return None
        if self.compare_dialog is not None:
            self.compare_dialog.close()
        self.compare_dialog = open_compare_cards(
            row.info, self._context, self._view, projector=self._files.paired(row)
        )
        return self.compare_dialog

    def _refresh_compare(self) -> None:
        """A Compare button works once the model's header has been read."""
        for file_row in self._files.rows():
            button = self.compare_buttons.get(file_row.model.name)
            if button is not None:
                button.setEnabled(file_row.info is not None)
                button.setVisible(file_row.kind == "model")

    def _model(self, name: str) -> RemoteModel | None:
        return next((r.model for r in self._files.rows() if r.model.name == name), None)

    def _on_snapshot(self, snapshot: JobSnapshot) -> None:
        for file_row in self._files.rows():
            model = file_row.model
            if model.repo_id == snapshot.repo_id and any(
                p.filename == snapshot.filename for p in model.parts
            ):
                self._refresh(model)

    def _refresh(self, model: RemoteModel) -> None:
        button = self.buttons.get(model.name)
        if button is None:
            return
        text, action = button_state(model, self._service)
        self._actions[model.name] = action
        if button.text() != text:
            button.setText(text)
        button.setEnabled(action not in ("none", "hidden"))
        button.setVisible(action != "hidden")
