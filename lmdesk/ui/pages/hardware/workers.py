"""Remote workers on the Hardware page: other machines' devices, lent by `lmdesk worker`.

Each worker is asked what it offers on a worker thread (`core.rpc_worker.probe`, itself a
child process, so a peer that answers garbage cannot take the app down) and shown with
its devices' memory, or why it cannot be used. The list is a setting (`rpc_workers`),
saved through the app's one `SettingsStore`.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from lmdesk.core.rpc_worker import Device, WorkerError, parse_endpoint
from lmdesk.core.units import format_size
from lmdesk.ui.kit.widgets import Card, heading, muted, secondary_button
from lmdesk.ui.services.background import Progress
from lmdesk.ui.services.context import SettingsStore
from lmdesk.ui.services.task_group import TaskGroup

CHECKING = "asking…"


class WorkersCard(Card):
    """Add a worker by host:port, see what each offers, remove it."""

    def __init__(self, store: SettingsStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._tasks = TaskGroup(self)
        self.rows: dict[str, QLabel] = {}
        self.address = QLineEdit()
        self.address.setPlaceholderText("host:port of a machine running `lmdesk worker`")
        self.add_button = secondary_button("Add worker")
        self.problem = muted("")
        self.problem.hide()
        self._list = QVBoxLayout()
        self._list.setSpacing(6)
        self.box.addWidget(heading("Remote workers", scale=1.15))
        self.box.addWidget(
            muted(
                "Devices other machines lend with `lmdesk worker` (llama.cpp RPC). The "
                "protocol has no password or encryption: add only machines on a network "
                "you trust."
            )
        )
        row = QHBoxLayout()
        row.addWidget(self.address, 1)
        row.addWidget(self.add_button)
        self.box.addLayout(row)
        self.box.addWidget(self.problem)
        self.box.addLayout(self._list)
        self.add_button.clicked.connect(self.add)
        self.address.returnPressed.connect(self.add)
        for endpoint in store.settings.rpc_workers:
            self._show(endpoint)

    def add(self) -> None:
        """Add the address typed (checked first), remember it, and ask the worker."""
        text = self.address.text()
        try:
            host, port = parse_endpoint(text)
        except WorkerError as exc:
            self._say(str(exc))
            return
        endpoint = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._say("")
        self.address.clear()
        if endpoint in self.rows:
            self.refresh(endpoint)
            return
        workers = (*self._store.settings.rpc_workers, endpoint)
        try:
            self._store.update(lambda s: replace(s, rpc_workers=workers))
        except OSError as exc:
            self._say(f"The settings could not be saved: {exc.strerror or exc}")
            return
        self._show(endpoint)

    def remove(self, endpoint: str) -> None:
        label = self.rows.pop(endpoint, None)
        line = label.parentWidget() if label is not None else None
        if line is not None:
            line.deleteLater()
        workers = tuple(w for w in self._store.settings.rpc_workers if w != endpoint)
        try:
            self._store.update(lambda s: replace(s, rpc_workers=workers))
        except OSError as exc:
            self._say(f"The settings could not be saved: {exc.strerror or exc}")

    def refresh(self, endpoint: str) -> None:
        """Ask ``endpoint`` again what it offers (off the GUI thread)."""
        from lmdesk.core.rpc_worker import probe

        label = self.rows[endpoint]
        label.setText(f"<b>{endpoint}</b> · {CHECKING}")

        def work(_progress: Progress) -> list[Device]:
            return probe(endpoint)

        self._tasks.start(
            work,
            name="worker-probe",
            done=lambda devices: self._show_devices(endpoint, devices),
            failed=lambda message, _details: self._show_failure(endpoint, message),
        )

    def wait(self, timeout_s: float = 30.0) -> bool:
        return self._tasks.wait_all(timeout_s)

    def _show(self, endpoint: str) -> None:
        line = QWidget()
        row = QHBoxLayout(line)
        row.setContentsMargins(0, 0, 0, 0)
        label = QLabel()
        label.setWordWrap(True)
        again = secondary_button("Check again")
        remove = secondary_button("Remove")
        row.addWidget(label, 1)
        row.addWidget(again)
        row.addWidget(remove)
        again.clicked.connect(lambda: self.refresh(endpoint))
        remove.clicked.connect(lambda: self.remove(endpoint))
        self._list.addWidget(line)
        self.rows[endpoint] = label
        self.refresh(endpoint)

    def _show_devices(self, endpoint: str, devices: list[Device]) -> None:
        label = self.rows.get(endpoint)
        if label is None:
            return
        parts = [
            f"{d.description or d.name}: {format_size(d.free_bytes)} free of "
            f"{format_size(d.total_bytes)}"
            for d in devices
        ]
        label.setText(f"<b>{endpoint}</b> · " + "; ".join(parts))

    def _show_failure(self, endpoint: str, message: str) -> None:
        label = self.rows.get(endpoint)
        if label is not None:
            label.setText(f"<b>{endpoint}</b> · unreachable: {message}")

    def _say(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.setVisible(bool(text))
