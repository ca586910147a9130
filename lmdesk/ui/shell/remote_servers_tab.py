"""Settings → Remote servers: OpenAI-compatible servers whose models the chat lists.

Each has a name (the picker's section), a base URL and an optional API key (stored in the
settings file in plain text, as README says). Test asks the server for its models off the
GUI thread and shows them, or the one sentence that says why it cannot.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lmdesk.core.counted import counted
from lmdesk.core.remote_engines import RemoteServer, servers_from_setting
from lmdesk.ui.services.background import BackgroundTask, Progress

SHOWN_MODELS = 6
"""Model ids a successful Test names; the rest are counted."""


class RemoteServersTab(QWidget):
    """The list of servers, the fields to add one, Add / Remove / Test, and Test's result."""

    def __init__(self, entries: tuple[dict[str, str], ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._servers: list[RemoteServer] = servers_from_setting(entries)
        self._task: BackgroundTask | None = None
        self.list = QListWidget()
        self.list.setObjectName("remoteServers")
        self.list.setMaximumHeight(110)
        self.list.currentRowChanged.connect(self._selected)
        self.name = QLineEdit()
        self.name.setPlaceholderText("Office GPU box")
        self.base_url = QLineEdit()
        self.base_url.setPlaceholderText("http://192.168.1.20:1234 (with or without /v1)")
        self.key = QLineEdit()
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("optional; stored in the settings file in plain text")
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self.add)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove)
        self.test_button = QPushButton("Test")
        self.test_button.setToolTip("Ask the server for its models")
        self.test_button.clicked.connect(self.test)
        self.result = QLabel()
        self.result.setObjectName("remoteServerResult")
        self.result.setWordWrap(True)
        self.result.setTextFormat(Qt.TextFormat.PlainText)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        intro = QLabel(
            "OpenAI-compatible servers (another lmdesk, llama-server, vLLM, Ollama, …). "
            "Their models appear in the chat's model picker under the server's name."
        )
        intro.setWordWrap(True)
        intro.setStyleSheet("color: palette(placeholder-text);")
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Base URL", self.base_url)
        form.addRow("API key", self.key)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        buttons.addWidget(self.test_button)
        column = QVBoxLayout(self)
        column.addWidget(intro)
        column.addWidget(self.list)
        column.addLayout(form)
        column.addLayout(buttons)
        column.addWidget(self.result)
        column.addStretch(1)
        self._refill()

    # -- the list -----------------------------------------------------------------------------
    def servers(self) -> tuple[dict[str, str], ...]:
        """The ``remote_servers`` setting as the list shows it."""
        return tuple(server.as_setting() for server in self._servers)

    def _refill(self) -> None:
        self.list.clear()
        for server in self._servers:
            key = " · key set" if server.api_key else ""
            item = QListWidgetItem(f"{server.name} — {server.base_url}{key}")
            item.setToolTip(server.base_url)
            self.list.addItem(item)
        self.remove_button.setEnabled(bool(self._servers))

    def _selected(self, row: int) -> None:
        if 0 <= row < len(self._servers):
            server = self._servers[row]
            self.name.setText(server.name)
            self.base_url.setText(server.base_url)
            self.key.setText(server.api_key)

    def _typed(self) -> RemoteServer | None:
        try:
            return RemoteServer.checked(self.name.text(), self.base_url.text(), self.key.text())
        except ValueError as exc:
            self._say(str(exc), error=True)
            return None

    def add(self) -> None:
        """Add the server the fields describe (one of the same name is replaced)."""
        server = self._typed()
        if server is None:
            return
        names = [s.name for s in self._servers]
        if server.name in names:
            self._servers[names.index(server.name)] = server
            self._say(f"{server.name} was updated; Save to keep it.")
        else:
            self._servers.append(server)
            self._say(f"{server.name} was added; Save to keep it, Test to see its models.")
        self._refill()
        self.list.setCurrentRow([s.name for s in self._servers].index(server.name))

    def remove(self) -> None:
        row = self.list.currentRow()
        if 0 <= row < len(self._servers):
            gone = self._servers.pop(row)
            self._refill()
            self._say(f"{gone.name} was removed; Save to keep the change.")

    # -- Test ---------------------------------------------------------------------------------
    def test(self) -> None:
        """List the models of the server in the fields (off the GUI thread)."""
        server = self._typed()
        if server is None:
            return

        def work(_progress: Progress) -> list[str] | str:
            from lmdesk.core.engine.errors import EngineError
            from lmdesk.core.remote_engines.listing import list_models

            try:
                return list_models(server)
            except EngineError as exc:
                return str(exc)

        self.test_button.setEnabled(False)
        self._say(f"Asking {server.name} for its models…")
        task = BackgroundTask(work, name="remote-test", parent=self)
        task.sig_done.connect(lambda result: self._tested(server, result))
        task.sig_failed.connect(lambda message, _details: self._tested(server, message))
        self._task = task
        task.start()

    def _tested(self, server: RemoteServer, result: object) -> None:
        self.test_button.setEnabled(True)
        if isinstance(result, str):
            self._say(result, error=True)
            return
        ids = list(result) if isinstance(result, list) else []
        if not ids:
            self._say(f"{server.name} answers, but lists no models.")
            return
        shown = ", ".join(ids[:SHOWN_MODELS])
        more = f" and {len(ids) - SHOWN_MODELS} more" if len(ids) > SHOWN_MODELS else ""
        self._say(f"{server.name} answers with {counted(len(ids), 'model')}: {shown}{more}.")

    def _say(self, text: str, *, error: bool = False) -> None:
        self.result.setText(text)
        self.result.setStyleSheet("color: #dc2626;" if error else "color: #15803d;")

    def wait(self, timeout_s: float | None = None) -> bool:
        """Join a running Test (tests, closing)."""
        return self._task.wait(timeout_s) if self._task is not None else True
