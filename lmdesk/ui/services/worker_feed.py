"""What the remote workers (`rpc_workers`) offer now, for the Load panel's Target GPU picker.

Each worker is asked with `core.estimate.remote_devices` (a child process per worker, so a
peer that answers garbage cannot take the app down), on a worker thread; the answer comes
back on the GUI thread as `WorkerReadings`. A worker that cannot be used is kept with its
reason, so the picker can show it as unreachable and leave it out of plans. The readings
are asked again when the settings' list of workers changes, and on `refresh()`. The
context owns one (`AppContext.workers`): the Hardware page's list and the Load panel show
the same readings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from lmdesk.ui.services.context import SettingsStore
from lmdesk.ui.services.task_group import TaskGroup

if TYPE_CHECKING:
    from lmdesk.core.estimate import RemoteDevice
    from lmdesk.core.settings import Settings
    from lmdesk.ui.services.background import Progress


@dataclass(frozen=True)
class WorkerReadings:
    """Every reachable worker's devices (in the settings' order), and why the others are not."""

    devices: tuple[RemoteDevice, ...] = ()
    unreachable: dict[str, str] = field(default_factory=dict)
    """endpoint -> a sentence saying why it cannot be used."""


def read_workers(endpoints: tuple[str, ...]) -> WorkerReadings:
    """Ask each worker what it offers (blocking: each a child process, PROBE_TIMEOUT_S at most)."""
    from lmdesk.core.estimate import remote_devices

    devices: list[RemoteDevice] = []
    unreachable: dict[str, str] = {}
    for endpoint in endpoints:
        try:
            devices.extend(remote_devices((endpoint,)))
        except ValueError as exc:  # WorkerError: not one, gone, garbage, timed out
            unreachable[endpoint] = str(exc)
    return WorkerReadings(tuple(devices), unreachable)


class WorkerFeed(QObject):
    """Reads the workers off the GUI thread; `sig_workers` delivers each reading."""

    sig_workers = Signal(object)
    """WorkerReadings, on the GUI thread."""
    asking = Signal(tuple)
    """The endpoints being asked now (their answer follows in `sig_workers`)."""

    def __init__(self, store: SettingsStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._tasks = TaskGroup(self)
        self._known = tuple(store.settings.rpc_workers)
        self.latest: WorkerReadings | None = None
        """The last reading (None until the first one)."""
        store.changed.connect(self._settings_changed)

    def refresh(self) -> None:
        """Ask every worker in the settings again (the previous question's answer is dropped)."""
        endpoints = tuple(self._store.settings.rpc_workers)
        self._known = endpoints
        self._tasks.cancel_all()
        self.asking.emit(endpoints)
        if not endpoints:
            self._deliver(WorkerReadings())
            return

        def work(_progress: Progress) -> WorkerReadings:
            return read_workers(endpoints)

        self._tasks.start(
            work,
            name="worker-readings",
            done=self._deliver,
            failed=lambda message, _details: self._deliver(
                WorkerReadings(unreachable={e: message for e in endpoints})
            ),
        )

    def wait(self, timeout_s: float = 30.0) -> bool:
        return self._tasks.wait_all(timeout_s)

    def shutdown(self) -> None:
        self._tasks.cancel_all()
        self._tasks.wait_all(5.0)

    def _settings_changed(self, settings: Settings) -> None:
        if tuple(settings.rpc_workers) != self._known:  # a worker added or removed
            self.refresh()

    def _deliver(self, readings: WorkerReadings) -> None:
        self.latest = readings
        self.sig_workers.emit(readings)
