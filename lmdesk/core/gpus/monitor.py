"""Poll the GPUs on a background thread, so the GUI thread never waits on NVML.

Qt-free: the UI passes a callback that re-emits each `GpuProbe` as a queued
Qt signal. The callback runs on the monitor's thread, never the caller's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from lmdesk.core.gpus.nvml import GpuProbe, probe_gpus

_log = logging.getLogger(__name__)


class GpuMonitor:
    """Calls `probe` every `interval_s` seconds and hands each result to a callback."""

    def __init__(self, probe: Callable[[], GpuProbe] = probe_gpus) -> None:
        self._probe = probe
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, callback: Callable[[GpuProbe], None], interval_s: float = 2.0) -> None:
        """Poll now and then every `interval_s` seconds until `stop()`."""
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, not {interval_s}")
        if self.running:
            raise RuntimeError("GpuMonitor is already running; stop() it first")
        self._stop = threading.Event()  # each run its own, so a slow old thread still ends
        self._thread = threading.Thread(
            target=self._run,
            args=(callback, interval_s, self._stop),
            name="lmdesk-gpu-monitor",
            daemon=True,
        )
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop polling and wait for the thread; a probe in progress finishes first."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
            if not thread.is_alive():
                self._thread = None

    def _run(
        self, callback: Callable[[GpuProbe], None], interval_s: float, stop: threading.Event
    ) -> None:
        while not stop.is_set():
            try:
                probe = self._probe()
                if stop.is_set():  # no news after stop() was asked for
                    break
                callback(probe)
            except Exception:  # a failing callback must not end monitoring silently
                _log.exception("GPU monitor callback failed")
            if stop.wait(interval_s):
                break
