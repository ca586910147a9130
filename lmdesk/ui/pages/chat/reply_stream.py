"""The reply being written: asked of the model, its chunks saved as they come, its end reported.

One reply at a time. `start` creates (or, for Continue, reopens) the reply's
row through a `ReplyRecord` and asks the controller for the text; from then
on the worker's chunks for that request (matched by request id, so a late
chunk of an older request is ignored) are appended and saved at least once a
second, also by a timer when the model stalls. The end, finished or failed,
is saved once and reported with the saved message; the session turns that
into what the views show. No conversation bookkeeping here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from lmdesk.core.chats import ChatStore, Message
from lmdesk.ui.pages.chat.reply_record import ReplyRecord
from lmdesk.ui.services.inference import InferenceController

if TYPE_CHECKING:
    from lmdesk.core.engine import ReplyStats, SamplingSettings

FLUSH_TIMER_MS = 1000


class ReplyStream(QObject):
    text_added = Signal(int, str)
    """message id, text appended to the streaming reply."""
    saved = Signal(int, int)
    """message id, characters of it now saved in the database (after each flush)."""
    finished = Signal(object, object)
    """the saved Message (None if it was deleted meanwhile), ReplyStats."""
    failed = Signal(object, bool, str)
    """the saved Message or None, whether it was deleted as empty, message for a person."""

    def __init__(
        self,
        store: ChatStore,
        controller: InferenceController,
        *,
        policy: Callable[[], str],
        flush_interval_s: float | None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._controller = controller
        self._policy = policy
        self._flush_interval_s = flush_interval_s
        self._record: ReplyRecord | None = None
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_TIMER_MS)
        self._flush_timer.timeout.connect(self._flush_if_due)
        controller.chunk.connect(self._on_chunk)
        controller.finished.connect(self._on_finished)
        controller.failed.connect(self._on_failed)

    @property
    def record(self) -> ReplyRecord | None:
        """The reply being written, or None."""
        return self._record

    def start(
        self,
        conversation_id: int,
        prompt: list[dict[str, str]],
        sampling: SamplingSettings,
        *,
        continue_from: Message | None,
    ) -> ReplyRecord:
        """A new reply at the end of the conversation, or more of ``continue_from``."""
        interval = self._flush_interval_s
        if continue_from is None:
            record = ReplyRecord.begin(self._store, conversation_id, flush_interval_s=interval)
        else:
            record = ReplyRecord.resume(self._store, continue_from, flush_interval_s=interval)
        record.request_id = self._controller.generate(
            prompt,
            sampling,
            policy=self._policy(),
            continue_last=continue_from is not None,
        )
        self._record = record
        self._flush_timer.start()
        return record

    def interrupt(self) -> None:
        """Save the text as it is, marked "interrupted" (the app is closing)."""
        self._flush_timer.stop()
        if self._record is not None:
            self._record.interrupt()
            self._record = None

    def _current(self, request_id: int) -> ReplyRecord | None:
        record = self._record
        return record if record is not None and record.request_id == request_id else None

    def _on_chunk(self, request_id: int, text: str) -> None:
        record = self._current(request_id)
        if record is None:
            return
        saved = record.append(text)
        self.text_added.emit(record.message_id, text)
        if saved:
            self.saved.emit(record.message_id, len(record.text))

    def _flush_if_due(self) -> None:
        record = self._record
        if record is not None and record.flush_if_due():
            self.saved.emit(record.message_id, len(record.text))

    def _on_finished(self, request_id: int, stats: ReplyStats) -> None:
        record = self._current(request_id)
        if record is None:
            return
        final = record.finish(stats)
        self._end()
        self.finished.emit(final, stats)

    def _on_failed(self, request_id: int, message: str) -> None:
        record = self._current(request_id)
        if record is None:
            return
        final, deleted = record.fail(self._store)
        self._end()
        self.failed.emit(final, deleted, message)

    def _end(self) -> None:
        self._record = None
        self._flush_timer.stop()
