"""Saving a reply while it streams, so a crash loses at most a second of it.

The engine yields text a few tokens at a time, dozens of times a second.
Committing every chunk would be wasteful; keeping it all in memory until the
end would lose the whole reply if the app or llama.cpp dies. The writer
buffers chunks and saves the text so far whenever ``flush_interval_s`` has
passed since the last save (measured with a monotonic clock), then saves
once more, with the final state and stats, in ``finish``.

The saved row stays in state ``"streaming"`` until ``finish``; if the process
dies first, the next start marks it ``"interrupted"`` and keeps the text.

A save that fails (the disk is full) never loses text nor wedges the reply: the
text stays in memory, ``save_error`` says why, saves are retried with a growing
back-off while it streams, and ``finish`` closes the writer anyway, leaving the
final save pending until ``save_pending`` succeeds.

A writer belongs to one thread (the one feeding it chunks); the store it
saves through is thread-safe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import TracebackType
from typing import Protocol

from lmdesk.core.chats.errors import ChatStoreError
from lmdesk.core.chats.models import FINAL_STATES, Message, MessageState, MessageStats

DEFAULT_FLUSH_INTERVAL_S = 1.0
MAX_RETRY_INTERVAL_S = 30.0


class ReplySink(Protocol):
    """Where a writer saves; ``ChatStore`` is one."""

    def save_reply_progress(self, message_id: int, content: str, reasoning: str = "") -> bool: ...

    def save_reply_final(
        self,
        message_id: int,
        content: str,
        *,
        state: MessageState,
        stats: MessageStats | None,
        reasoning: str | None = None,
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
        self._reasoning: list[str] = [message.reasoning]
        self._dirty = False
        self._last_flush = clock()
        self._flushes = 0
        self._final: Message | None = None
        self._finished = False
        self._pending: tuple[MessageState, MessageStats | None] | None = None
        self._retry_interval = flush_interval_s
        self.save_error: ChatStoreError | None = None
        """Why the last save failed (the disk is full, say); None once a save succeeds."""

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
    def reasoning(self) -> str:
        """The reply's thinking appended so far, saved or not."""
        if len(self._reasoning) > 1:
            self._reasoning = ["".join(self._reasoning)]
        return self._reasoning[0]

    @property
    def flush_count(self) -> int:
        """How many times text has been saved while streaming (not counting finish)."""
        return self._flushes

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def saved(self) -> bool:
        """Everything appended, and the final state once finished, is in the database."""
        return not self._dirty and self._pending is None

    def append(self, chunk: str, reasoning: str = "") -> bool:
        """Add a chunk of answer and of thinking; save both so far if the interval has passed.

        Returns True when this call saved to the database. A failed save keeps
        the text (see `flush_if_due`).
        """
        if self._finished:
            raise ReplyFinishedError(f"reply {self.message_id} is already finished")
        if chunk:
            self._parts.append(chunk)
            self._dirty = True
        if reasoning:
            self._reasoning.append(reasoning)
            self._dirty = True
        return self.flush_if_due()

    def flush_if_due(self) -> bool:
        """Save if there is unsaved text and the interval has passed.

        ``append`` calls this; a caller whose model can stall for long between
        chunks may also call it from a timer so the last chunk is not held back.
        """
        if not self._dirty or self._finished:
            return False
        interval = self._retry_interval if self.save_error else self._interval
        if self._clock() - self._last_flush < interval:
            return False
        try:
            self.flush()
        except ChatStoreError as exc:  # kept in memory; tried again after a longer wait
            self.save_error = exc
            self._last_flush = self._clock()
            self._retry_interval = min(max(self._retry_interval * 2, 1.0), MAX_RETRY_INTERVAL_S)
            return False
        return True

    def flush(self) -> None:
        """Save the text so far now, whatever the interval; a failed save raises."""
        if self._finished or not self._dirty:
            return
        self._sink.save_reply_progress(self.message_id, self.text, self.reasoning)
        self._dirty = False
        self._last_flush = self._clock()
        self._flushes += 1
        self._saved_ok()

    def _saved_ok(self) -> None:
        self.save_error = None
        self._retry_interval = self._interval

    def finish(
        self, state: MessageState = "complete", *, stats: MessageStats | None = None
    ) -> Message | None:
        """Save the whole text with its final state and stats; the writer is then closed.

        Returns the saved message, or None if it was deleted meanwhile (its
        conversation deleted while the reply streamed). Calling it again
        returns the same result without saving. The writer is closed even when
        the save fails: the error propagates, and `save_pending` tries again.
        """
        if state not in FINAL_STATES:
            raise ValueError(f"a reply cannot finish in state {state!r}")
        if self._finished:
            return self._final
        self._finished = True
        self._pending = (state, stats)
        return self.save_pending()

    def save_pending(self) -> Message | None:
        """Save the finished reply if its final save failed before; raises if it fails again."""
        if self._pending is None:
            return self._final
        state, stats = self._pending
        try:
            self._final = self._sink.save_reply_final(
                self.message_id, self.text, state=state, stats=stats, reasoning=self.reasoning
            )
        except ChatStoreError as exc:
            self.save_error = exc
            raise
        self._pending = None
        self._dirty = False
        self._saved_ok()
        return self._final

    def unsaved_message(self) -> Message:
        """The reply as it would be saved: for showing while the save is pending."""
        state, stats = self._pending or ("streaming", None)
        return replace(
            self._message, content=self.text, reasoning=self.reasoning, state=state, stats=stats
        )

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
