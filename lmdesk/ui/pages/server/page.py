"""Server: start and stop lmdesk's API, its settings, how to call it, and what it served.

The page drives the context's `ApiService` and reads the model host's pool for what is
loaded and whose turn it is (the chat or an API client), twice a second while shown.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFontDatabase, QGuiApplication, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lmdesk.ui.kit.widgets import Card, heading, muted, primary_button, secondary_button
from lmdesk.ui.pages.server.server_form import ServerForm
from lmdesk.ui.pages.server.snippets import curl_snippet, python_snippet
from lmdesk.ui.services.context import AppContext

if TYPE_CHECKING:
    from lmdesk.core.server import RequestRecord

LOG_COLUMNS = ("Time", "Request", "Model", "Status", "Tokens in / out", "Seconds", "Waited")
BUSY_POLL_MS = 500


class ServerPage(QScrollArea):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("serverPage")
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._context = context
        self.api = context.api
        self.status = QLabel()
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.serving = muted("")
        self.toggle = primary_button("Start server")
        self.form = ServerForm(context.settings)
        self.note = muted("")
        self.curl = self._code_box()
        self.curl.setFixedHeight(self.curl.fontMetrics().lineSpacing() * 4 + 24)
        self.python = self._code_box()
        self.copy_curl = secondary_button("Copy")
        self.copy_python = secondary_button("Copy")
        self.log = self._log_table()
        self._busy_timer = QTimer(self)
        self._busy_timer.setInterval(BUSY_POLL_MS)
        self._busy_timer.timeout.connect(self._show_busy)
        self.setWidget(self._body())
        self._connect()
        for record in self.api.records:
            self._add_record(record)
        self._refresh()

    # -- layout -----------------------------------------------------------------------------
    def _body(self) -> QWidget:
        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(28, 24, 28, 24)
        column.setSpacing(14)
        column.addWidget(heading("Local server"))
        column.addWidget(
            muted(
                "Other tools use your models through an OpenAI- and Anthropic-compatible API: "
                "editor plugins, agents, Open WebUI, scripts. Requests take turns with the "
                "chat on the loaded model."
            )
        )
        state = Card()
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.toggle)
        state.box.addLayout(row)
        state.box.addWidget(self.serving)
        column.addWidget(state)
        settings = Card()
        settings.box.addWidget(heading("Settings", scale=1.1))
        settings.box.addWidget(self.form)
        settings.box.addWidget(self.note)
        column.addWidget(settings)
        usage = Card()
        usage.box.addWidget(heading("Use it from other tools", scale=1.1))
        for title, box, button in (
            ("curl", self.curl, self.copy_curl),
            ("Python (pip install openai)", self.python, self.copy_python),
        ):
            line = QHBoxLayout()
            line.addWidget(muted(title), 1)
            line.addWidget(button)
            usage.box.addLayout(line)
            usage.box.addWidget(box)
        column.addWidget(usage)
        log = Card()
        log.box.addWidget(heading("Requests", scale=1.1))
        log.box.addWidget(
            muted("Method, path, model, status, tokens and time; no message text unless kept.")
        )
        log.box.addWidget(self.log)
        column.addWidget(log)
        column.addStretch(1)
        return body

    @staticmethod
    def _code_box() -> QPlainTextEdit:
        box = QPlainTextEdit()
        box.setReadOnly(True)
        box.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        box.setFixedHeight(box.fontMetrics().lineSpacing() * 9 + 24)
        return box

    @staticmethod
    def _log_table() -> QTableWidget:
        table = QTableWidget(0, len(LOG_COLUMNS))
        table.setHorizontalHeaderLabels(LOG_COLUMNS)
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        table.setMinimumHeight(200)
        return table

    def _connect(self) -> None:
        self.toggle.clicked.connect(self._toggle)
        self.api.state_changed.connect(self._refresh)
        self.api.request_logged.connect(self._add_record)
        self.form.changed.connect(self._refresh)
        self.form.failed.connect(self._show_problem)
        self.copy_curl.clicked.connect(lambda: _copy(self.curl.toPlainText()))
        self.copy_python.clicked.connect(lambda: _copy(self.python.toPlainText()))

    # -- state ------------------------------------------------------------------------------
    def _toggle(self) -> None:
        if self.api.running:
            self.api.stop()
        else:
            self.api.start()

    def _refresh(self) -> None:
        api, server = self.api, self._context.settings.settings.server
        base = api.base_url or f"http://127.0.0.1:{server.port}/v1"
        if api.running:
            self.status.setText(f"<b>Running</b> at <code>{base}</code>")
            self.toggle.setText("Stop server")
        elif api.starting:
            self.status.setText("Starting…")
            self.toggle.setText("Start server")
        elif api.error:
            self.status.setText(f"<b>Not running:</b> {api.error}")
            self.toggle.setText("Start server")
        else:
            self.status.setText("<b>Stopped</b>")
            self.toggle.setText("Start server")
        self.toggle.setEnabled(not api.starting)
        self.note.setText(
            "Changes take effect when the server is restarted." if api.running else ""
        )
        self.note.setVisible(api.running)
        key = bool(server.api_key_file)
        model = self._model_name()
        self.curl.setPlainText(curl_snippet(base, model, key=key))
        self.python.setPlainText(python_snippet(base, model, key=key))
        self._show_busy()

    def _model_name(self) -> str:
        loaded = self._context.models.controller.loaded_model
        return loaded.path.name.removesuffix(".gguf") if loaded is not None else "MODEL"

    def _show_busy(self) -> None:
        """Which models are loaded, by whom, and whose turn it is on the chat's model."""
        host = self._context.models
        loaded = host.loaded_paths()
        if not loaded:
            self.serving.setText("No model is loaded; a request that names one loads it.")
            return
        turn = {
            "chat": "answering in the chat",
            "api": "answering an API request",
            "benchmark": "running the Load panel's benchmark",
        }
        now = turn.get(host.controller.busy_client or "", "idle")
        parts = [
            f"{path.name} (the chat's, {now})"
            if who == "chat"
            else f"{path.name} (loaded by a request)"
            for path, who in loaded.items()
        ]
        self.serving.setText("Loaded: " + "; ".join(parts) + ".")

    def _show_problem(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(True)

    def _add_record(self, record: RequestRecord) -> None:
        row = self.log.rowCount()
        tokens = f"{_n(record.prompt_tokens)} / {_n(record.completion_tokens)}"
        waited = "" if record.queue_wait_s is None else f"{record.queue_wait_s:.2f} s"
        values = (
            time.strftime("%H:%M:%S"),
            f"{record.method} {record.path}",
            record.model or "",
            str(record.status),
            tokens,
            f"{record.seconds:.2f}",
            waited,
        )
        self.log.insertRow(row)
        for column, value in enumerate(values):
            self.log.setItem(row, column, QTableWidgetItem(value))
        self.log.scrollToBottom()

    def showEvent(self, event: QShowEvent) -> None:
        self._busy_timer.start()
        self._refresh()
        super().showEvent(event)

    def hideEvent(self, event: object) -> None:  # type: ignore[override]
        self._busy_timer.stop()
        super().hideEvent(event)  # type: ignore[arg-type]


def _n(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _copy(text: str) -> None:
    clipboard = QGuiApplication.clipboard()
    if clipboard is not None:
        clipboard.setText(text)
