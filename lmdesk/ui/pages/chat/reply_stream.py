"""The reply being written: asked of the model, its chunks saved as they come, its end reported.

One reply at a time. `start` creates (or, for Continue, reopens) the reply's
row through a `ReplyRecord` and asks the controller for the text; from then
on the worker's chunks for that request (matched by request id, so a late
chunk of an older request is ignored) are appended and saved at least once a
second, also by a timer when the model stalls. The end, finished or failed,
is saved once and reported with the saved message; the session turns that
into what the views show. No conversation bookkeeping here.

When a save fails (the disk is full) the reply goes on, and then ends, in
memory; `save_problem` says so once, and a timer retries the save with a
growing back-off until it succeeds (`save_recovered`). Sends work meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from lmdesk.core.chats import ChatStore, Message
from lmdesk.core.chats.reply_record import ReplyRecord
from lmdesk.ui.services.inference import InferenceController

if TYPE_CHECKING:
    from lmdesk.core.engine import ReplyStats, SamplingSettings

FLUSH_TIMER_MS = 1000
RETRY_FIRST_MS = 1000
RETRY_MAX_MS = 30_000


class ReplyStream(QObject):
    text_added = Signal(int, str)
    """message id, answer text appended to the streaming reply."""
    reasoning_added = Signal(int, str)
    """message id, thinking appended to the streaming reply (`core.reasoning` splits it)."""
    saved = Signal(int, int)
    """message id, characters of it now saved in the database (after each flush)."""
    finished = Signal(object, object)
    """the saved Message (None if it was deleted meanwhile), ReplyStats."""
    failed = Signal(object, bool, str)
    """the saved Message or None, whether it was deleted as empty, message for a person."""
    save_problem = Signal(str)
    """a reply could not be saved (the disk is full): a sentence naming the file."""
    save_recovered = Signal(int)
    """message id: a reply kept in memory is now saved."""

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
        self._unsaved: list[ReplyRecord] = []
        self._problem_shown = False
        self._retry_timer = QTimer(self)
        self._retry_timer.setSingleShot(True)
        self._retry_timer.timeout.connect(self._retry_saves)
        self._retry_ms = RETRY_FIRST_MS
        controller.chunk.connect(self._on_chunk)
        controller.finished.connect(self._on_finished)
        controller.failed.connect(self._on_failed)

    def use_store(self, store: ChatStore) -> None:
        """Save the next replies in ``store`` (no reply may be streaming)."""
        assert self._record is None, "a reply is streaming into the old store"
        self._store = store

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

    @property
    def unsaved(self) -> list[ReplyRecord]:
        """Finished replies kept in memory until a save succeeds."""
        return list(self._unsaved)

    def interrupt(self) -> None:
        """Save the text as it is, marked "interrupted" (the app is closing)."""
        self._flush_timer.stop()
        self._retry_timer.stop()
        if self._record is not None:
            self._record.interrupt()
            self._record = None
        for record in self._unsaved:
            record.retry_save()

    def _current(self, request_id: int) -> ReplyRecord | None:
        record = self._record
        return record if record is not None and record.request_id == request_id else None

    def _on_chunk(self, request_id: int, text: str) -> None:
        record = self._current(request_id)
        if record is None:
            return
        reasoning, answer, saved = record.feed(text)
        if reasoning:
            self.reasoning_added.emit(record.message_id, reasoning)
        if answer:
            self.text_added.emit(record.message_id, answer)
        self._after_save(record, saved)

    def _flush_if_due(self) -> None:
        record = self._record
        if record is not None:
            self._after_save(record, record.flush_if_due())

    def _after_save(self, record: ReplyRecord, saved: bool) -> None:
        if saved:
            self.saved.emit(record.message_id, len(record.text))
            self._problem_shown = False
        elif record.save_error is not None:
            self._tell(record)

    def _on_finished(self, request_id: int, stats: ReplyStats) -> None:
        record = self._current(request_id)
        if record is None:
            return
        final = record.finish(stats)
        self._end(record)
        self.finished.emit(final, stats)

    def _on_failed(self, request_id: int, message: str) -> None:
        record = self._current(request_id)
        if record is None:
            return
        final, deleted = record.fail(self._store)
        self._end(record)
        self.failed.emit(final, deleted, message)

    def _end(self, record: ReplyRecord) -> None:
        """The reply is over (sends work again); one whose save failed waits for a retry."""
        self._record = None
        self._flush_timer.stop()
        if not record.saved:
            self._unsaved.append(record)
            self._tell(record)
            if not self._retry_timer.isActive():
                self._retry_ms = RETRY_FIRST_MS
                self._retry_timer.start(self._retry_ms)

    def _tell(self, record: ReplyRecord) -> None:
        if self._problem_shown or record.save_error is None:
            return
        self._problem_shown = True
        self.save_problem.emit(
            f"The reply is kept on screen but could not be saved: {record.save_error}."
        )

    def _retry_saves(self) -> None:
        for record in list(self._unsaved):
            if record.retry_save():
                self._unsaved.remove(record)
                self.save_recovered.emit(record.message_id)
        if self._unsaved:
            self._retry_ms = min(self._retry_ms * 2, RETRY_MAX_MS)
            self._retry_timer.start(self._retry_ms)
        else:
            self._problem_shown = False
