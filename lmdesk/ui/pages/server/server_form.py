"""The server's settings on the Server page: port, LAN, key, CORS, loading on request, TTL.

Each change is saved at once through the app's one `SettingsStore` (`settings.server`);
a running server keeps its settings until it is restarted, and the page says so.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from lmdesk.core.settings import ServerSettings
from lmdesk.ui.services.context import SettingsStore

_log = logging.getLogger(__name__)

KEY_FILE = "api-key"
"""The key file lmdesk creates in its config folder when asked to ("Create a key")."""


class ServerForm(QWidget):
    changed = Signal()
    """A setting was saved."""
    failed = Signal(str)
    """A setting could not be saved, or a key could not be created: why."""

    def __init__(self, store: SettingsStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        s = store.settings.server
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(s.port)
        self.port.setMaximumWidth(110)
        self.lan = QCheckBox("Serve other computers on the network (needs an API key)")
        self.lan.setChecked(s.lan)
        self.key_file = QLineEdit(s.api_key_file)
        self.key_file.setPlaceholderText("No key: only this computer can connect")
        self.browse = QPushButton("Choose…")
        self.create_key = QPushButton("Create a key")
        self.cors = QLineEdit(", ".join(s.cors_origins))
        self.cors.setPlaceholderText("None: browsers' pages on other sites cannot call it")
        self.jit = QCheckBox("Load a model from My Models when a request names it")
        self.jit.setChecked(s.jit_loading)
        self.ttl = QSpinBox()
        self.ttl.setRange(0, 10_080)
        self.ttl.setSuffix(" min")
        self.ttl.setSpecialValueText("never")
        self.ttl.setValue(s.idle_ttl_minutes)
        self.ttl.setMaximumWidth(110)
        self.log_text = QCheckBox("Keep the messages' text in the request log")
        self.log_text.setChecked(s.log_message_text)

        key_row = QHBoxLayout()
        key_row.setContentsMargins(0, 0, 0, 0)
        key_row.addWidget(self.key_file, 1)
        key_row.addWidget(self.browse)
        key_row.addWidget(self.create_key)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Port", self.port)
        form.addRow("", self.lan)
        form.addRow("API key file", key_row)
        form.addRow("CORS origins", self.cors)
        form.addRow("", self.jit)
        form.addRow("Unload idle models after", self.ttl)
        form.addRow("", self.log_text)

        self.port.editingFinished.connect(lambda: self._save(port=self.port.value()))
        self.lan.toggled.connect(lambda on: self._save(lan=on))
        self.key_file.editingFinished.connect(
            lambda: self._save(api_key_file=self.key_file.text().strip())
        )
        self.browse.clicked.connect(self._choose_key_file)
        self.create_key.clicked.connect(self.make_key)
        self.cors.editingFinished.connect(lambda: self._save(cors_origins=self._origins()))
        self.jit.toggled.connect(lambda on: self._save(jit_loading=on))
        self.ttl.editingFinished.connect(lambda: self._save(idle_ttl_minutes=self.ttl.value()))
        self.log_text.toggled.connect(lambda on: self._save(log_message_text=on))

    def make_key(self) -> str:
        """Create a random key in lmdesk's config folder and use it; returns the key."""
        from lmdesk.core import paths
        from lmdesk.core.server.config import create_key_file

        path = paths.config_dir() / KEY_FILE
        try:
            key = create_key_file(path)
        except OSError as exc:
            self.failed.emit(f"Could not write the key file {path}: {exc.strerror or exc}")
            return ""
        self.key_file.setText(str(path))
        self._save(api_key_file=str(path))
        return key

    def _choose_key_file(self) -> None:
        dialog = QFileDialog(self, "API key file", str(Path.home()))
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(
            lambda path: (self.key_file.setText(path), self._save(api_key_file=path))
        )
        dialog.open()

    def _origins(self) -> tuple[str, ...]:
        return tuple(o.strip() for o in self.cors.text().split(",") if o.strip())

    def _save(self, **changes: Any) -> None:
        server: ServerSettings = self._store.settings.server
        try:
            updated = replace(server, **changes)
        except ValueError as exc:  # the settings' own bounds
            self.failed.emit(str(exc))
            return
        if updated == server:
            return
        try:
            self._store.update(lambda s: replace(s, server=updated))
        except OSError as exc:
            self.failed.emit(f"The settings could not be saved: {exc.strerror or exc}")
            return
        self.changed.emit()
