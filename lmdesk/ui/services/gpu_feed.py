"""GPU readings for the widgets: `GpuMonitor` polls on its own thread, a queued signal delivers.

The monitor's callback runs on the monitor thread; it only emits
`sig_probe`, which Qt queues to this object's (the GUI) thread, so slots
connected to it may update widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from lmdesk.core.gpus import GpuMonitor, GpuProbe

INTERVAL_S = 2.0


class GpuFeed(QObject):
    """Starts and stops a `GpuMonitor`; re-emits every reading on the GUI thread."""

    sig_probe = Signal(object)
    """GpuProbe: the GPUs and their free memory, about every `interval_s` seconds."""

    def __init__(
        self,
        probe: Callable[[], GpuProbe] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._probe = probe
        self._monitor: GpuMonitor | None = None
        self.latest: GpuProbe | None = None
        self.sig_probe.connect(self._remember)

    @property
    def running(self) -> bool:
        return self._monitor is not None and self._monitor.running

    def start(self, interval_s: float = INTERVAL_S) -> None:
        from lmdesk.core.gpus import GpuMonitor, probe_gpus

        if self.running:
            return
        monitor = GpuMonitor(self._probe or probe_gpus)
        signal = self.sig_probe

        def deliver(probe: GpuProbe) -> None:
            try:
                signal.emit(probe)
            except RuntimeError:  # this feed was deleted without stop(): end the polling
                monitor.stop()

        self._monitor = monitor
        monitor.start(deliver, interval_s)

    def stop(self) -> None:
        if self._monitor is not None:
            self._monitor.stop()
            self._monitor = None

    def _remember(self, probe: GpuProbe) -> None:
        self.latest = probe
