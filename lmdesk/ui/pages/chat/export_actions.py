"""Export the selected conversation to Markdown or JSON, through a non-modal save dialog."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QWidget

from lmdesk.core.chats import ChatStore

FORMATS = {"md": ("Markdown", "Markdown (*.md)"), "json": ("JSON", "JSON (*.json)")}


class ExportActions(QObject):
    """Two menu actions; `export_to` does the work (and is what tests call)."""

    exported = Signal(str)
    """path of the file written"""
    failed = Signal(str)
    """a sentence saying why the file could not be written"""

    def __init__(
        self, store: ChatStore, current_id: Callable[[], int | None], parent: QWidget
    ) -> None:
        super().__init__(parent)
        self._store, self._current_id, self._parent = store, current_id, parent
        self._dialog: QFileDialog | None = None
        self.actions = {}
        for suffix, (label, _filter) in FORMATS.items():
            action = QAction(f"Export as {label}…", self)
            action.triggered.connect(lambda _=False, s=suffix: self.ask(s))
            self.actions[suffix] = action

    def use_store(self, store: ChatStore) -> None:
        self._store = store

    def export_to(self, conversation_id: int, path: Path) -> Path:
        """Write the conversation to ``path``; the suffix (.md or .json) picks the format."""
        if path.suffix.lower() == ".json":
            text = json.dumps(
                self._store.export_json(conversation_id), indent=2, ensure_ascii=False
            )
        else:
            text = self._store.export_markdown(conversation_id)
        path.write_text(text, encoding="utf-8")
        return path

    def ask(self, suffix: str) -> QFileDialog | None:
        conversation_id = self._current_id()
        if conversation_id is None:
            return None
        title = self._store.get_conversation(conversation_id).title
        name = re.sub(r"[^\w\- ]+", "", title).strip() or "conversation"
        dialog = QFileDialog(self._parent, "Export conversation", f"{name}.{suffix}")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilter(FORMATS[suffix][1])
        dialog.setDefaultSuffix(suffix)

        def chosen(path: str) -> None:
            try:
                self.exported.emit(str(self.export_to(conversation_id, Path(path))))
            except OSError as exc:
                self.failed.emit(f"Could not export to {path}: {exc.strerror or exc}")

        dialog.fileSelected.connect(chosen)
        self._dialog = dialog  # keep it alive while it is open
        dialog.open()
        return dialog
