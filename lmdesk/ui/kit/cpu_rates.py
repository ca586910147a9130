"""The CPU's measured rates for the speed model, shared by every widget that predicts.

`core.speed.cpu_speed` measures once per machine (about 0.3 s per thread count)
and keeps the result; this app-wide object runs that measurement on a worker
thread, in a child process (the probe drives ggml through ctypes beside a running
model: if it crashes, only the child ends and the line says the CPU could not be
measured), and tells whoever asked when it is ready. It has no parent and is never
deleted, so a Load panel or a dialog closed mid-measurement cannot leave a
worker emitting into a deleted object; widgets connect to `sig_ready` (Qt drops
the connection when they go) and ask again.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QObject, Signal

from lmdesk.core.cpu_threads import ThreadCounts
from lmdesk.core.speed import CpuSpeed, cpu_speed, is_measured
from lmdesk.ui.services.background import BackgroundTask


class CpuRates(QObject):
    """Measures on request, one (weight type, threads, head width) at a time; answers at once
    when known."""

    sig_ready = Signal(object)
    """A `CpuSpeed` just measured."""
    sig_failed = Signal(str)
    """The measurement failed: why, in words."""

    def __init__(self) -> None:
        super().__init__(None)
        self._tasks: dict[tuple[int, ThreadCounts, int], BackgroundTask] = {}
        self._session: dict[tuple[int, ThreadCounts, int], CpuSpeed] = {}
        """What this session measured: a figure the core did not keep (others held the
        cores then) is used until the next start rather than measured again and again."""
        self._failures: dict[tuple[int, ThreadCounts, int], str] = {}
        """Why a measurement failed this session: not tried again on every slider tick (each
        try starts a child process); the next start of the app tries again."""
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.wait)

    def get(self, ggml_type: int, threads: ThreadCounts, head_dim: int = 0) -> CpuSpeed | None:
        """The rates if known (no measuring); else starts measuring and returns None."""
        key = (ggml_type, threads, head_dim)
        if is_measured(ggml_type, threads, head_dim):
            return cpu_speed(ggml_type, threads, head_dim)
        if key in self._session:
            return self._session[key]
        if key not in self._tasks and key not in self._failures:
            task = BackgroundTask(
                lambda _progress: cpu_speed(ggml_type, threads, head_dim, apart=True),
                name="cpu-speed",
                parent=self,
            )
            task.sig_done.connect(lambda speed: self._measured(key, speed))
            task.sig_failed.connect(lambda message, _details: self._failed(key, message))
            task.sig_finished.connect(lambda: self._forget(key))
            self._tasks[key] = task
            task.start()
        return None

    def _measured(self, key: tuple[int, ThreadCounts, int], speed: CpuSpeed) -> None:
        self._session[key] = speed
        self.sig_ready.emit(speed)

    def failure(self, ggml_type: int, threads: ThreadCounts, head_dim: int = 0) -> str | None:
        """Why these rates could not be measured this session (None: they were not tried,
        are being measured, or are known)."""
        return self._failures.get((ggml_type, threads, head_dim))

    def _failed(self, key: tuple[int, ThreadCounts, int], message: str) -> None:
        self._failures[key] = message
        self.sig_failed.emit(message)

    def _forget(self, key: tuple[int, ThreadCounts, int]) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            task.deleteLater()

    def wait(self, timeout_s: float = 30.0) -> bool:
        """Join running measurements (at shutdown, and in tests)."""
        return all(task.wait(timeout_s) for task in list(self._tasks.values()))


_SHARED: CpuRates | None = None


def cpu_rates() -> CpuRates:
    """The app's one `CpuRates` (made on first use, on the GUI thread)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = CpuRates()
    return _SHARED
