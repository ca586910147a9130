"""Remote workers on the Hardware page: other machines' devices, lent by `lmdesk worker`.

Each worker is asked what it offers by the app's `WorkerFeed` (a child process per worker,
off the GUI thread, so a peer that answers garbage cannot take the app down) and shown with
its devices' memory, or why it cannot be used; the Load panel's Target GPU picker shows the
same readings. The list is a setting (`rpc_workers`), saved through the app's one
`SettingsStore` (the feed asks again when it changes).
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from lmdesk.core.rpc_worker import Device, WorkerError, parse_endpoint
from lmdesk.core.units import format_size
from lmdesk.ui.kit.widgets import Card, heading, muted, secondary_button
from lmdesk.ui.services.context import SettingsStore
from lmdesk.ui.services.worker_feed import WorkerFeed, WorkerReadings

CHECKING = "asking…"


class WorkersCard(Card):
    """Add a worker by host:port, see what each offers, remove it."""

    def __init__(
        self, store: SettingsStore, feed: WorkerFeed | None = None, parent: QWidget | None = None
    ) -> None:
        """`feed` is the app's (`AppContext.workers`); without one the card makes its own."""
        super().__init__(parent)
        self._store = store
        self._feed = feed if feed is not None else WorkerFeed(store, self)
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
        self._feed.asking.connect(self._show_asking)
        self._feed.sig_workers.connect(self._show_readings)
        for endpoint in store.settings.rpc_workers:
            self._show(endpoint)
        if store.settings.rpc_workers:
            self._feed.refresh()

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
        self._show(endpoint)
        workers = (*self._store.settings.rpc_workers, endpoint)
        try:  # the feed asks the workers again when the list changes
            self._store.update(lambda s: replace(s, rpc_workers=workers))
        except OSError as exc:
            self._drop_row(endpoint)
            self._say(f"The settings could not be saved: {exc.strerror or exc}")

    def remove(self, endpoint: str) -> None:
        self._drop_row(endpoint)
        workers = tuple(w for w in self._store.settings.rpc_workers if w != endpoint)
        try:
            self._store.update(lambda s: replace(s, rpc_workers=workers))
        except OSError as exc:
            self._say(f"The settings could not be saved: {exc.strerror or exc}")

    def refresh(self, endpoint: str | None = None) -> None:
        """Ask the workers again what they offer ("Check again"; off the GUI thread)."""
        self._feed.refresh()

    def wait(self, timeout_s: float = 30.0) -> bool:
        return self._feed.wait(timeout_s)

    def _drop_row(self, endpoint: str) -> None:
        label = self.rows.pop(endpoint, None)
        line = label.parentWidget() if label is not None else None
        if line is not None:
            line.deleteLater()

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
        label.setText(f"<b>{endpoint}</b> · {CHECKING}")

    def _show_asking(self, endpoints: tuple[str, ...]) -> None:
        for endpoint in endpoints:
            label = self.rows.get(endpoint)
            if label is not None:
                label.setText(f"<b>{endpoint}</b> · {CHECKING}")

    def _show_readings(self, readings: WorkerReadings) -> None:
        for endpoint, why in readings.unreachable.items():
            label = self.rows.get(endpoint)
            if label is not None:
                label.setText(f"<b>{endpoint}</b> · unreachable: {why}")
        for endpoint in self.rows:
            devices = [d.device for d in readings.devices if d.endpoint == endpoint]
            if devices:
                self._show_devices(endpoint, devices)

    def _show_devices(self, endpoint: str, devices: list[Device]) -> None:
        label = self.rows[endpoint]
        parts = [
            f"{d.name if d.description in ('', endpoint) else d.description}: "
            f"{format_size(d.free_bytes)} free of "
            f"{format_size(d.total_bytes)}"
            for d in devices
        ]
        label.setText(f"<b>{endpoint}</b> · " + "; ".join(parts))

    def _say(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.setVisible(bool(text))
