"""Coalescing streamed text, so a fast model sends ~60 signals a second, not hundreds.

The worker thread cannot run a timer while llama.cpp evaluates a token, so
batching is decided when a chunk arrives: text goes out at once when the last
emission is at least ``interval_s`` old, and is held otherwise. Held text goes
out with the next chunk (at most one token later) or at the end of the reply.
A slow model therefore streams token by token; a fast one in ~16 ms batches.
"""

from __future__ import annotations

import time
from collections.abc import Callable

CHUNK_INTERVAL_S = 0.016
"""About one frame at 60 Hz."""


class ChunkBatcher:
    """Collects chunks; `add` returns the text to emit now ('' while holding)."""

    def __init__(
        self,
        interval_s: float = CHUNK_INTERVAL_S,
        *,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._interval = interval_s
        self._clock = clock
        self._held: list[str] = []
        self._last_emit: float | None = None

    def add(self, text: str) -> str:
        if text:
            self._held.append(text)
        now = self._clock()
        if self._held and (self._last_emit is None or now - self._last_emit >= self._interval):
            self._last_emit = now
            return self.flush()
        return ""

    def flush(self) -> str:
        """Everything held, now (the end of a reply)."""
        out = "".join(self._held)
        self._held.clear()
        return out
