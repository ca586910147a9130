"""My Models: every GGUF on this computer, what it is, and whether it fits the chosen GPU.

The list is rescanned in the background when the page opens, when a model arrives or
goes (`models_changed`), and on Rescan. Load hands the model and its load settings to
the chat page; Delete asks first; Show in folder opens the file manager.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from lmdesk.core import paths
from lmdesk.core.counted import counted
from lmdesk.core.estimate import FitWords
from lmdesk.core.library import LibraryEntry
from lmdesk.core.units import format_size
from lmdesk.ui.kit.compare_cards import CompareCardsDialog, open_compare_cards
from lmdesk.ui.kit.fit_target import FitTarget
from lmdesk.ui.kit.folder_choice import CHOOSE_MODELS_FOLDER, choose_models_folder
from lmdesk.ui.kit.tables import ColumnsThatYield, style_table
from lmdesk.ui.kit.theme import VERDICT_COLORS
from lmdesk.ui.kit.widgets import heading, muted, primary_button, secondary_button
from lmdesk.ui.pages.library.actions import DeleteFlow, plan_load, reveal
from lmdesk.ui.pages.library.details import ModelDetails
from lmdesk.ui.pages.library.library_model import (
    ARCH,
    CONTEXT,
    FIT,
    NAME,
    SOURCE,
    LibraryModel,
    LibraryProxy,
)
from lmdesk.ui.pages.library.scanner import LibraryScanner, paired_projector
from lmdesk.ui.services.context import AppContext
from lmdesk.ui.services.errors import show_error

FIT_WIDTH = 250
MIN_NAME_WIDTH = 220
"""The model's name keeps at least this; less needed columns are hidden first."""


class LibraryPage(QWidget):
    def __init__(
        self,
        context: AppContext,
        *,
        cache_dir: Path | None = None,
        scan_options: dict[str, Any] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("libraryPage")
        self._context = context
        self.model = LibraryModel(self)
        self.proxy = LibraryProxy(self.model, self)
        self.target = FitTarget(context)
        self.target.setMinimumWidth(290)
        self.scanner = LibraryScanner(
            context,
            self.target.inputs,
            cache_dir=cache_dir or paths.cache_dir() / "headers",
            scan_options=scan_options,
            parent=self,
        )
        self.deleter = DeleteFlow(self)
        self._folders = self._folder_settings()
        self._note = ""
        self.summary = muted("Looking for models…", wrap=False)
        self.folder_problem = QLabel()
        self.folder_problem.setObjectName("folderProblem")
        self.folder_problem.setWordWrap(True)
        self.folder_problem.setStyleSheet(f"color: {VERDICT_COLORS['no_fit'].name()};")
        self.choose_folder_button = secondary_button(CHOOSE_MODELS_FOLDER)
        self.filter_box = QLineEdit()
        self.filter_box.setPlaceholderText("Filter by name, architecture or quantization")
        self.filter_box.setClearButtonEnabled(True)
        self.rescan_button = secondary_button("Rescan")
        self.load_button = primary_button("Load")
        self.reveal_button = secondary_button("Show in folder")
        self.delete_button = secondary_button("Delete…")
        self.compare_button = secondary_button("Compare cards…")
        self.compare_button.setToolTip("This model on every card: layers that fit, predicted speed")
        self.compare_dialog: CompareCardsDialog | None = None
        self.status = muted("", wrap=False)
        self.details = ModelDetails()
        self.table = self._make_table()
        self.empty = muted(
            "No models yet. Find one in Discover, or add a folder of GGUF files in Settings."
        )
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.hide()
        self._layout()
        self._connect()
        self._selection_changed()
        self.scanner.rescan()

    def _make_table(self) -> QTableView:
        table = QTableView()
        table.setModel(self.proxy)
        style_table(table, row_height=36)
        table.setSortingEnabled(True)
        table.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setAlternatingRowColors(True)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(FIT, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(FIT, FIT_WIDTH)
        # Narrow: where it came from, then its architecture and context, go before the name.
        self._yield = ColumnsThatYield(
            table, [SOURCE, ARCH, CONTEXT], stretch=NAME, min_stretch=MIN_NAME_WIDTH
        )
        return table

    def _layout(self) -> None:
        top = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(2)
        titles.addWidget(heading("My Models", scale=1.6))
        titles.addWidget(self.summary)
        top.addLayout(titles, 1)
        top.addWidget(self.rescan_button, 0, Qt.AlignmentFlag.AlignBottom)
        problem = QHBoxLayout()
        problem.addWidget(self.folder_problem, 1)
        problem.addWidget(self.choose_folder_button)
        self.folder_problem.hide()
        self.choose_folder_button.hide()
        tools = QHBoxLayout()
        tools.addWidget(self.filter_box, 2)
        tools.addSpacing(12)
        tools.addWidget(self.target, 1)
        actions = QHBoxLayout()
        actions.addWidget(self.load_button)
        actions.addWidget(self.reveal_button)
        actions.addWidget(self.delete_button)
        actions.addWidget(self.compare_button)
        actions.addStretch(1)
        actions.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 22, 28, 18)
        layout.setSpacing(12)
        layout.addLayout(top)
        layout.addLayout(problem)
        layout.addLayout(tools)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty, 1)
        layout.addWidget(self.details)
        layout.addLayout(actions)

    def _connect(self) -> None:
        self.filter_box.textChanged.connect(self.proxy.set_text)
        self.rescan_button.clicked.connect(self.scanner.rescan)
        self.choose_folder_button.clicked.connect(self.choose_models_folder)
        self.scanner.folder_problem.connect(self._show_folder_problem)
        self.load_button.clicked.connect(self.load_selected)
        self.reveal_button.clicked.connect(self.reveal_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self.compare_button.clicked.connect(self.compare_selected)
        self.table.doubleClicked.connect(lambda _index: self.load_selected())
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.target.changed.connect(self.scanner.rejudge)
        self.scanner.scanned.connect(self._on_scanned)
        self.scanner.judged.connect(self.model.set_words)
        self.scanner.judged.connect(self._selection_changed)
        self.scanner.failed.connect(lambda message: show_error(self, f"Scan failed: {message}"))
        self.scanner.busy_changed.connect(self._on_busy)
        self.deleter.deleted.connect(self._on_deleted)
        self.deleter.failed.connect(
            lambda message: show_error(self, f"Could not delete: {message}")
        )
        self._context.signals.models_changed.connect(self.scanner.rescan)
        self._context.settings.changed.connect(self._on_settings_changed)

    def _folder_settings(self) -> tuple[Path, tuple[str, ...]]:
        store = self._context.settings
        return store.models_dir(), store.settings.extra_model_dirs

    def _on_settings_changed(self, _settings: object) -> None:
        folders = self._folder_settings()
        if folders != self._folders:  # a folder was added, removed or moved
            self._folders = folders
            self.scanner.rescan()

    # -- selection and actions -----------------------------------------------------------
    def selected(self) -> LibraryEntry | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.entry(self.proxy.mapToSource(rows[0]).row())

    def select_path(self, path: Path) -> bool:
        """Select the row of `path` (tests, and after a download: 'Show in My Models')."""
        for row, entry in enumerate(self.model.entries()):
            if entry.path == path:
                index = self.proxy.mapFromSource(self.model.index(row, 0))
                self.table.selectRow(index.row())
                return True
        return False

    def load_selected(self) -> None:
        entry = self.selected()
        if entry is None or not entry.is_ok:
            return
        try:
            load = plan_load(
                entry,
                self._context.settings.settings,
                self.target.inputs(),
                self._context.llama_build,
                self.target.picker.detected(),
            )
        except ValueError as exc:
            show_error(self, f"Cannot load {entry.name}: {exc}")
            return
        self._context.signals.load_model_requested.emit(str(entry.path), load)
        self._context.signals.navigate_requested.emit("chat")

    def reveal_selected(self) -> None:
        entry = self.selected()
        if entry is not None and not reveal(entry.path):
            show_error(self, f"Could not open the folder {entry.path.parent}")

    def delete_selected(self) -> None:
        entry = self.selected()
        if entry is not None:
            self.deleter.start(entry)

    def compare_selected(self) -> CompareCardsDialog | None:
        """Open Compare cards for the selected model (non-modal; one at a time)."""
        entry = self.selected()
        if entry is None or entry.model is None:
            return None
        if self.compare_dialog is not None:
            self.compare_dialog.close()
        self.compare_dialog = open_compare_cards(
            entry.model, self._context, self, projector=paired_projector(entry)
        )
        return self.compare_dialog

    def _selection_changed(self, *_args: object) -> None:
        entry = self.selected()
        self.compare_button.setEnabled(entry is not None and entry.model is not None)
        self.load_button.setEnabled(entry is not None and entry.is_ok)
        self.reveal_button.setEnabled(entry is not None)
        self.delete_button.setEnabled(entry is not None)
        self.details.show_entry(entry, self.model.words(entry.path) if entry else None)

    # -- scans ---------------------------------------------------------------------------
    def _on_scanned(self, entries: list[LibraryEntry], words: dict[Path, FitWords]) -> None:
        chosen = self.selected()
        self.model.set_entries(entries, words)
        if chosen is not None:
            self.select_path(chosen.path)
        self._selection_changed()
        usable = sum(1 for e in entries if e.is_ok)
        total = format_size(sum(e.size for e in entries))
        broken = len(entries) - usable
        note = f" · {broken} cannot be used" if broken else ""
        summary = f"{counted(usable, 'model')} · {total} on disk{note}"
        if self.folder_problem.text():
            summary = f"The models folder cannot be used · {summary}"
        self.summary.setText(summary)
        self.table.setVisible(bool(entries))
        self.empty.setVisible(not entries and not self.folder_problem.text())

    def _show_folder_problem(self, problem: str | None) -> None:
        """An unusable models folder is named, with a way out, not shown as "0 models"."""
        text = f"The models folder {problem}." if problem else ""
        self.folder_problem.setText(text)
        self.folder_problem.setVisible(bool(problem))
        self.choose_folder_button.setVisible(bool(problem))

    def choose_models_folder(self) -> QWidget:
        """The non-modal folder picker; the choice is saved as the models_dir setting."""
        return choose_models_folder(self, self._context.settings)

    def _on_busy(self, busy: bool) -> None:
        self.status.setText("Scanning…" if busy else self._note)
        self.rescan_button.setEnabled(not busy)

    def _on_deleted(self, removed: list[Path]) -> None:
        self._note = f"Deleted {removed[0].name}" if removed else ""
        self.status.setText(self._note)
        self._context.signals.models_changed.emit()

    def shutdown(self) -> None:
        self.scanner.cancel()

    def wait(self, timeout_s: float = 10.0) -> bool:
        return self.scanner.wait(timeout_s) and self.deleter.wait(timeout_s)
