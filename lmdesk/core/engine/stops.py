"""Reply text as it streams: whole UTF-8 characters only, and stop strings held back.

A token can end in the middle of a multi-byte character, and a stop string
can arrive split over several tokens. Text is released only once it can no
longer turn out to be part of a stop string, so the person never sees a
stop string flash up and disappear, and the pieces always add up to the reply.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence


class StreamText:
    """Collects token bytes; `feed` returns the text that is safe to show now."""

    def __init__(self, stop: Sequence[str] = (), *, strip_leading: bool = False) -> None:
        self._stops = tuple(s for s in stop if s)
        self._longest = max((len(s) for s in self._stops), default=0)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._strip_leading = strip_leading
        self.text = ""
        """The reply so far (cut before the stop string once one matched)."""
        self._released = 0
        self.stopped_by: str | None = None

    def feed(self, piece: bytes) -> str:
        """Add a token's bytes; return newly releasable text ('' while holding back)."""
        if self.stopped_by is not None:
            return ""
        new = self._decoder.decode(piece)
        if self._strip_leading and not self.text:
            new = new.lstrip()
        self.text += new
        return self._release()

    def finish(self) -> str:
        """The reply is over: return whatever was still held back."""
        if self.stopped_by is None:
            tail = self._decoder.decode(b"", final=True)
            if not (self._strip_leading and not self.text):
                self.text += tail
        rest = self.text[self._released :]
        self._released = len(self.text)
        return rest

    def _release(self) -> str:
        if self._stops:
            start = max(0, self._released - self._longest + 1)
            hits = [(i, s) for s in self._stops if (i := self.text.find(s, start)) >= 0]
            if hits:
                index, stop = min(hits)
                self.stopped_by = stop
                self.text = self.text[:index]
                return self.finish()
        safe = len(self.text) - self._held_back()
        if safe <= self._released:
            return ""
        out = self.text[self._released : safe]
        self._released = safe
        return out

    def _held_back(self) -> int:
        """Length of the longest tail of the text that could begin a stop string."""
        for size in range(min(self._longest - 1, len(self.text)), 0, -1):
            tail = self.text[-size:]
            if any(stop.startswith(tail) for stop in self._stops):
                return size
        return 0
