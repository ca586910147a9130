"""Run one blocking call on a worker thread; results come back as queued signals.

Works with or without a running asyncio loop (qasync in the app, plain Qt
event loop under pytest-qt). The task object lives on the GUI thread; its
signals are emitted from the worker and delivered queued, so slots always
run on the GUI thread and may touch widgets.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from lmdesk.core.logs import describe_exception

_log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


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
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self._name} is already running")
        self._cancel.clear()
        self._thread = threading.Thread(target=self._run, name=f"lmdesk-{self._name}", daemon=True)
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
            result = self._work(self._progress)
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
        while the work ran, nobody is left to tell, and that is not an error."""
        try:
            signal.emit(*args)
        except RuntimeError:
            _log.debug("%s finished after its owner was deleted", self._name)


class TaskCancelled(Exception):
    """Raised inside the work when `cancel()` was called; the task then reports 'Cancelled'."""
