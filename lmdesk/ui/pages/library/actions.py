"""What My Models does with a model: plan its load, delete it (after asking), show its folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget

from lmdesk.core.estimate import FitInputs
from lmdesk.core.library import LibraryEntry, NeedsConfirmation, delete_model
from lmdesk.core.load_plan import settings_for, usable_gpu
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.settings import Settings
from lmdesk.core.units import format_size
from lmdesk.ui.services.background import Progress
from lmdesk.ui.services.task_group import TaskGroup

if TYPE_CHECKING:
    from lmdesk.core.gpus import GpuInfo, LlamaBuild


def plan_load(
    entry: LibraryEntry,
    settings: Settings,
    inputs: FitInputs,
    build: LlamaBuild | None,
    machine: Sequence[GpuInfo] = (),
) -> LoadSettings:
    """How to load `entry`: `core.load_plan`'s rule, fitted to the card picked on the page
    (one of the `machine`'s GPUs, which the load is then kept to).

    Layers are only planned for a real GPU (a what-if card is not in this computer) and
    when llama.cpp is known not to lack GPU support; otherwise everything stays on the CPU.
    """
    model = entry.model
    if model is None:
        raise ValueError(f"{entry.path.name} cannot be loaded: {entry.error}")
    gpu = usable_gpu(inputs.gpu, build)
    return settings_for(model, entry.path, settings, gpu=gpu, machine=machine)


def reveal(path: Path) -> bool:
    """Open the folder holding `path` in the desktop's file manager."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))


def needs_confirmation(entry: LibraryEntry) -> str:
    """The core's warning for deleting a file that is not lmdesk's (nothing is deleted)."""
    if entry.owned:
        return ""
    try:
        delete_model(entry)  # refuses unconfirmed: raises before touching any file
    except NeedsConfirmation as exc:
        return str(exc)
    raise AssertionError(f"delete_model removed {entry.path} without a confirmation")


class DeleteFlow(QObject):
    """Asks, then deletes on a worker thread. lmdesk's own files get a plain question; other
    apps' files the explicit warning `NeedsConfirmation` carries. Dialogs are opened with
    `open()` (never `exec()`), so the window keeps working while one is up."""

    deleted = Signal(object)
    """list[Path]: the files removed."""
    failed = Signal(str)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._parent = parent
        self._tasks = TaskGroup(self)
        self.box: QMessageBox | None = None

    def start(self, entry: LibraryEntry) -> QMessageBox:
        """Show the confirmation for deleting `entry`; returns the (non-modal) box."""
        if self.box is not None:
            self.box.close()
        if entry.owned:
            text = f"Delete {entry.path.name} ({format_size(entry.size)})?"
            info = "The file is removed from lmdesk's models folder. You can download it again."
            box, delete = self._box(QMessageBox.Icon.Question, text, info, "Delete")
        else:
            warning = needs_confirmation(entry)
            box, delete = self._box(
                QMessageBox.Icon.Warning, warning, str(entry.path), "Delete anyway"
            )
        confirmed = not entry.owned
        box.buttonClicked.connect(
            lambda button: self._delete(entry, confirmed) if button is delete else None
        )
        box.finished.connect(lambda _result: self._forget(box))
        self.box = box
        box.open()
        return box

    def _box(
        self, icon: QMessageBox.Icon, text: str, info: str, action: str
    ) -> tuple[QMessageBox, QPushButton]:
        box = QMessageBox(
            icon, "Delete model", text, QMessageBox.StandardButton.NoButton, self._parent
        )
        box.setInformativeText(info)
        delete = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
        delete.setObjectName("confirmDelete")
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        return box, delete

    def _forget(self, box: QMessageBox) -> None:
        if self.box is box:
            self.box = None
        box.deleteLater()

    def _delete(self, entry: LibraryEntry, confirmed: bool) -> None:
        def work(_progress: Progress) -> list[Path]:
            return delete_model(entry, confirmed=confirmed)

        self._tasks.start(
            work,
            name="delete-model",
            done=self.deleted.emit,
            failed=lambda message, _details: self.failed.emit(message),
        )

    def wait(self, timeout_s: float = 10.0) -> bool:
        return self._tasks.wait_all(timeout_s)
