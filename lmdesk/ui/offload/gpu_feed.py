"""GPU readings from `core.gpus.GpuMonitor`'s thread, delivered on the GUI thread.

The monitor calls back on its own (non-Qt) thread. The callback only emits a
private signal; its queued connection turns the emit into an event for this
object, which lives on the GUI thread, so `gpus_probed` and every slot
connected to it (`OffloadPanel.set_gpus`) run there. No widget is touched
from the monitor's thread.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal

from lmdesk.core.gpus import GpuMonitor, GpuProbe, probe_gpus


class GpuFeed(QObject):
    """Polls the GPUs every `interval_s` seconds; emits `gpus_probed(GpuProbe)`."""

    gpus_probed = Signal(object)
    """A fresh `GpuProbe`, on the GUI thread."""

    _arrived = Signal(object)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        probe: Callable[[], GpuProbe] = probe_gpus,
        interval_s: float = 2.0,
    ) -> None:
        super().__init__(parent)
        self._monitor = GpuMonitor(probe)
        self._interval_s = interval_s
        self._arrived.connect(self.gpus_probed, Qt.ConnectionType.QueuedConnection)

    @property
    def running(self) -> bool:
        return self._monitor.running

    def start(self) -> None:
        self._monitor.start(self._arrived.emit, interval_s=self._interval_s)

    def stop(self) -> None:
        """Stop polling and join the monitor's thread (a probe in progress finishes first)."""
        self._monitor.stop()
