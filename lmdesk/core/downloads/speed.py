"""Download speed over a rolling window, computed when asked so it falls to 0 in a stall."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MIN_SPAN_S = 0.2  # never divide by less: the first packets would read as a huge speed


class SpeedMeter:
    """Bytes per second over the last ``window_s`` seconds (thread-safe)."""

    def __init__(self, window_s: float = 3.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()
        self._since = clock()
        self._lock = threading.Lock()

    def restart(self) -> None:
        """Forget the past (a new connection): the window starts now."""
        with self._lock:
            self._samples.clear()
            self._since = self._clock()

    def add(self, n_bytes: int) -> None:
        now = self._clock()
        with self._lock:
            self._samples.append((now, n_bytes))
            self._prune(now)

    def rate(self) -> float:
        now = self._clock()
        with self._lock:
            self._prune(now)
            if not self._samples:
                return 0.0
            span = max(min(self.window_s, now - self._since), MIN_SPAN_S)
            return sum(n for _, n in self._samples) / span

    def _prune(self, now: float) -> None:
        while self._samples and self._samples[0][0] < now - self.window_s:
            self._samples.popleft()
