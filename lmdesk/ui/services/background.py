"""Run one blocking call on a worker thread; results come back as queued signals.

Works with or without a running asyncio loop (qasync in the app, plain Qt
event loop under pytest-qt). The task object lives on the GUI thread; its
signals are emitted from the worker and delivered queued, so slots always
run on the GUI thread and may touch widgets.

Every running task is known here, so the app can end them all when it closes
(`close_all`): after that no worker emits again. A worker still busy when the
interpreter tears Qt down would otherwise emit into a deleted object and crash
the process on its way out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from lmdesk.core.logs import describe_exception

_log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

_gate = threading.RLock()
"""Held while a worker emits, and while `close_all` closes the gate: no emit straddles it."""
_closed = False
_running: set[BackgroundTask] = set()
"""Tasks whose worker has not ended yet (referenced here until it does)."""


def close_all(timeout_s: float) -> list[str]:
    """At exit: no task emits from now on; ask each running one to stop, and join them
    (`timeout_s` for all together). Returns the names of those still running (daemon
    threads, which end with the process)."""
    global _closed
    with _gate:
        _closed = True
        tasks = list(_running)
    for task in tasks:
        task.cancel()
    deadline = time.monotonic() + timeout_s
    for task in tasks:
        task.wait(max(0.0, deadline - time.monotonic()))
    return sorted(task.name for task in tasks if task.running)


class BackgroundTask(QObject):
    """`work(progress)` on a daemon thread; `cancel()` asks it to stop at its next progress call.

    Keep a reference to the task until `sig_finished`; `wait()` joins the
    thread (used at shutdown and in tests).
    """

    sig_progress = Signal(str, int, int)
    """stage, done, total — as reported by the work."""
    sig_done = Signal(object)
    """The work's return value."""
    sig_failed = Signal(str, str)
    """message, traceback text."""
    sig_finished = Signal()
    """After sig_done or sig_failed."""

    def __init__(
        self, work: Callable[[Progress], Any], *, name: str, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._work = work
        self._name = name
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self._name} is already running")
        self._cancel.clear()
        self._thread = threading.Thread(target=self._run, name=f"lmdesk-{self._name}", daemon=True)
        with _gate:
            _running.add(self)
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Join the worker; True when it has ended."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return not self.running

    def _progress(self, stage: str, done: int, total: int) -> None:
        if self._cancel.is_set():
            raise TaskCancelled(self._name)
        self._emit(self.sig_progress, stage, int(done), int(total))

    def _run(self) -> None:
        try:
            self._report(self._work)
        finally:
            with _gate:
                _running.discard(self)

    def _report(self, work: Callable[[Progress], Any]) -> None:
        try:
            result = work(self._progress)
        except TaskCancelled:
            self._emit(self.sig_failed, "Cancelled", "")
        except Exception as exc:
            message, details = describe_exception(type(exc), exc, exc.__traceback__)
            _log.warning("%s failed: %s", self._name, message)
            self._emit(self.sig_failed, str(exc) or message, details)
        else:
            self._emit(self.sig_done, result)
        self._emit(self.sig_finished)

    def _emit(self, signal: Any, *args: object) -> None:
        """Emit from the worker thread; if the task's owner (a page, a dialog) was deleted
        while the work ran, nobody is left to tell, and that is not an error. Once the
        app has closed (`close_all`) nothing is emitted at all."""
        with _gate:
            if _closed:
                return
            try:
                signal.emit(*args)
            except RuntimeError:
                _log.debug("%s finished after its owner was deleted", self._name)


class TaskCancelled(Exception):
    """Raised inside the work when `cancel()` was called; the task then reports 'Cancelled'."""
