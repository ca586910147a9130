"""Saving a reply while it streams, so a crash loses at most a second of it.

The engine yields text a few tokens at a time, dozens of times a second.
Committing every chunk would be wasteful; keeping it all in memory until the
end would lose the whole reply if the app or llama.cpp dies. The writer
buffers chunks and saves the text so far whenever ``flush_interval_s`` has
passed since the last save (measured with a monotonic clock), then saves
once more, with the final state and stats, in ``finish``.

The saved row stays in state ``"streaming"`` until ``finish``; if the process
dies first, the next start marks it ``"interrupted"`` and keeps the text.

A writer belongs to one thread (the one feeding it chunks); the store it
saves through is thread-safe.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol

from lmdesk.core.chats.errors import ChatStoreError
from lmdesk.core.chats.models import FINAL_STATES, Message, MessageState, MessageStats

DEFAULT_FLUSH_INTERVAL_S = 1.0


class ReplySink(Protocol):
    """Where a writer saves; ``ChatStore`` is one."""

    def save_reply_progress(self, message_id: int, content: str) -> bool: ...

    def save_reply_final(
        self,
        message_id: int,
        content: str,
        *,
        state: MessageState,
        stats: MessageStats | None,
    ) -> Message | None: ...


class ReplyFinishedError(ChatStoreError):
    """Text was appended to a reply that had already been finished."""


class ReplyWriter:
    """Accumulates one streamed assistant reply and saves it periodically."""

    def __init__(
        self,
        message: Message,
        *,
        sink: ReplySink,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        clock: Callable[[], float],
    ) -> None:
        if flush_interval_s < 0:
            raise ValueError(f"flush_interval_s must be >= 0, got {flush_interval_s}")
        self._message = message
        self._sink = sink
        self._interval = flush_interval_s
        self._clock = clock
        self._parts: list[str] = [message.content]
        self._dirty = False
        self._last_flush = clock()
        self._flushes = 0
        self._final: Message | None = None
        self._finished = False

    @property
    def message_id(self) -> int:
        return self._message.id

    @property
    def conversation_id(self) -> int:
        return self._message.conversation_id

    @property
    def text(self) -> str:
        """Everything appended so far, saved or not."""
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0]

    @property
    def flush_count(self) -> int:
        """How many times text has been saved while streaming (not counting finish)."""
        return self._flushes

    @property
    def finished(self) -> bool:
        return self._finished

    def append(self, chunk: str) -> bool:
        """Add a chunk; save the text so far if the flush interval has passed.

        Returns True when this call saved to the database. A database error
        propagates, and the unsaved text is retried on the next call.
        """
        if self._finished:
            raise ReplyFinishedError(f"reply {self.message_id} is already finished")
        if chunk:
            self._parts.append(chunk)
            self._dirty = True
        return self.flush_if_due()

    def flush_if_due(self) -> bool:
        """Save if there is unsaved text and the interval has passed.

        ``append`` calls this; a caller whose model can stall for long between
        chunks may also call it from a timer so the last chunk is not held back.
        """
        if self._dirty and self._clock() - self._last_flush >= self._interval:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        """Save the text so far now, whatever the interval."""
        if self._finished or not self._dirty:
            return
        self._sink.save_reply_progress(self.message_id, self.text)
        self._dirty = False
        self._last_flush = self._clock()
        self._flushes += 1

    def finish(
        self, state: MessageState = "complete", *, stats: MessageStats | None = None
    ) -> Message | None:
        """Save the whole text with its final state and stats; the writer is then closed.

        Returns the saved message, or None if it was deleted meanwhile (its
        conversation deleted while the reply streamed). Calling it again
        returns the same result without saving.
        """
        if state not in FINAL_STATES:
            raise ValueError(f"a reply cannot finish in state {state!r}")
        if self._finished:
            return self._final
        self._final = self._sink.save_reply_final(
            self.message_id, self.text, state=state, stats=stats
        )
        self._finished = True
        self._dirty = False
        return self._final

    def __enter__(self) -> ReplyWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leaving the block unfinished saves the text: "error" on an exception."""
        if not self._finished:
            self.finish("error" if exc_type is not None else "complete")
