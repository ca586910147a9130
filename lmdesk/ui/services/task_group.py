"""A page's background calls: `BackgroundTask`s kept referenced, answered on the GUI thread.

Every blocking call a page makes (hub search, file lists, headers, library scans) goes
through `TaskGroup.start`. The group keeps each task referenced until it has finished,
and routes its result through a relay `QObject` owned by the group: when the page (and
so the group) is destroyed, the relays go with it and a late result is dropped instead
of reaching deleted widgets. A cancelled task's "Cancelled" report is never passed on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Slot

from lmdesk.ui.services.background import BackgroundTask, Progress

Done = Callable[[Any], None]
Failed = Callable[[str, str], None]


class _Relay(QObject):
    """Receives one task's queued signals on the GUI thread and calls the page back."""

    def __init__(
        self, group: TaskGroup, task: BackgroundTask, done: Done, failed: Failed | None
    ) -> None:
        super().__init__(group)
        self._group, self._task, self._done, self._failed = group, task, done, failed
        self.cancelled = False
        task.sig_done.connect(self.on_done)
        task.sig_failed.connect(self.on_failed)
        task.sig_finished.connect(self.on_finished)

    @Slot(object)
    def on_done(self, result: object) -> None:
        if not self.cancelled:
            self._done(result)

    @Slot(str, str)
    def on_failed(self, message: str, details: str) -> None:
        if not self.cancelled and self._failed is not None:
            self._failed(message, details)

    @Slot()
    def on_finished(self) -> None:
        self._group._forget(self._task)


class TaskGroup(QObject):
    """Starts, tracks, cancels and joins the background tasks of one page."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._relays: dict[BackgroundTask, _Relay] = {}

    def start(
        self,
        work: Callable[[Progress], Any],
        *,
        name: str,
        done: Done,
        failed: Failed | None = None,
    ) -> BackgroundTask:
        """Run `work(progress)` on a worker thread; `done(result)` or `failed(msg, details)`.

        `work` should call `progress(...)` between steps: that is where `cancel` stops it.
        """
        task = BackgroundTask(work, name=name)
        self._relays[task] = _Relay(self, task, done, failed)
        task.start()
        return task

    def cancel(self, task: BackgroundTask | None) -> None:
        """Ask `task` to stop, and drop whatever it still reports."""
        if task is None:
            return
        relay = self._relays.get(task)
        if relay is not None:
            relay.cancelled = True
        task.cancel()

    def cancel_all(self) -> None:
        for task in list(self._relays):
            self.cancel(task)

    def running(self) -> list[BackgroundTask]:
        return [task for task in self._relays if task.running]

    def wait_all(self, timeout_s: float = 10.0) -> bool:
        """Join every worker thread (shutdown, tests); True when all have ended."""
        return all(task.wait(timeout_s) for task in list(self._relays))

    def _forget(self, task: BackgroundTask) -> None:
        relay = self._relays.pop(task, None)
        if relay is not None:
            relay.deleteLater()
