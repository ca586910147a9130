"""One streaming reply's way to disk: start (or resume for Continue), append, finish.

No Qt: the session feeds it the worker's chunks and calls `flush_if_due`
from a one-second timer, so a model that stalls still has its text saved.
The row stays ``"streaming"`` until the end, so a crash leaves it
``"interrupted"`` on the next start, with everything saved so far.

A save can fail (the disk is full): the reply then still ends, in memory,
``save_error`` says why, and `retry_save` saves it once space returns.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lmdesk.core.chats.errors import ChatStoreError
from lmdesk.core.chats.models import Message, MessageState, MessageStats
from lmdesk.core.chats.reply_writer import ReplyWriter
from lmdesk.core.reasoning import CONTINUE_TAG, ReasoningSplitter

if TYPE_CHECKING:
    from lmdesk.core.chats.store import ChatStore
    from lmdesk.core.engine import ReplyStats

_log = logging.getLogger(__name__)


def message_stats(stats: ReplyStats) -> MessageStats:
    """The stats line's numbers: the answer's alone; the thinking's apart."""
    return MessageStats(
        prompt_tokens=stats.prompt_tokens,
        generated_tokens=stats.answer_tokens,
        ttft_s=stats.ttft_s,
        tokens_per_s=stats.answer_tokens_per_s,
        stop_reason=stats.stop_reason,
        reasoning_tokens=stats.reasoning_tokens or None,
        reasoning_s=stats.reasoning_s if stats.reasoning_tokens else None,
        estimated=stats.counts_estimated,
    )


class ReplyRecord:
    """The reply to request ``request_id``, saved through a `ReplyWriter`."""

    def __init__(
        self, request_id: int, writer: ReplyWriter, previous: Message | None = None
    ) -> None:
        self.request_id = request_id
        self.writer = writer
        self.previous = previous
        """The message before Continue (restored if Continue adds nothing)."""
        cut_while_thinking = (
            previous is not None and bool(previous.reasoning) and not previous.content.strip()
        )
        self.splitter = ReasoningSplitter(
            answer_only=previous is not None, inside=CONTINUE_TAG if cut_while_thinking else ""
        )
        """Splits the streamed text into thinking and answer (Continue extends the answer, or
        the thinking of a reply cut off while thinking)."""
        self.raw = ""
        """The text as the model streamed it, markers and all."""

    @classmethod
    def begin(
        cls,
        store: ChatStore,
        conversation_id: int,
        *,
        request_id: int = 0,
        flush_interval_s: float | None = None,
    ) -> ReplyRecord:
        """A new, empty reply at the end of the conversation."""
        writer = store.begin_reply(conversation_id, flush_interval_s=flush_interval_s)
        return cls(request_id, writer)

    @classmethod
    def resume(
        cls,
        store: ChatStore,
        message: Message,
        *,
        request_id: int = 0,
        flush_interval_s: float | None = None,
    ) -> ReplyRecord:
        """Extend ``message`` (Continue); it is restored if Continue adds nothing."""
        writer = store.resume_reply(message.id, flush_interval_s=flush_interval_s)
        return cls(request_id, writer, message)

    @property
    def message_id(self) -> int:
        return self.writer.message_id

    @property
    def conversation_id(self) -> int:
        return self.writer.conversation_id

    @property
    def text(self) -> str:
        return self.writer.text

    @property
    def reasoning(self) -> str:
        return self.writer.reasoning

    def feed(self, text: str) -> tuple[str, str, bool]:
        """Add streamed text: (thinking, answer) it released, and whether this saved."""
        self.raw += text
        reasoning, content = self.splitter.feed(text)
        return reasoning, content, self.writer.append(content, reasoning)

    def append(self, text: str) -> bool:
        """Add streamed text; True when this saved to the database."""
        return self.feed(text)[2]

    def _release_held_back(self) -> None:
        reasoning, content = self.splitter.finish()
        if (reasoning or content) and not self.writer.finished:
            self.writer.append(content, reasoning)

    def flush_if_due(self) -> bool:
        return self.writer.flush_if_due()

    @property
    def saved(self) -> bool:
        """Everything, the end included, is in the database."""
        return self.writer.saved

    @property
    def save_error(self) -> ChatStoreError | None:
        return self.writer.save_error

    def retry_save(self) -> bool:
        """Try the failed saves again; True once everything is saved."""
        try:
            if self.writer.finished:
                self.writer.save_pending()
            else:
                self.writer.flush()
        except ChatStoreError:
            return False
        return self.writer.saved

    def finish(self, stats: ReplyStats) -> Message | None:
        """Save the whole reply with its stats: "stopped" after Stop, else "complete".

        If the save fails the reply still ends: the message is returned as it will be
        saved, and `saved` stays False until `retry_save` succeeds.
        """
        if stats.text != self.raw:  # never seen: chunks always add up to the text
            if stats.text.startswith(self.raw):
                self.append(stats.text[len(self.raw) :])
            else:
                _log.warning("the streamed text differs from the reply's; keeping what was shown")
        self._release_held_back()
        state: MessageState = "stopped" if stats.stop_reason == "user_stop" else "complete"
        return self._end(state, message_stats(stats))

    def _end(self, state: MessageState, stats: MessageStats | None = None) -> Message | None:
        try:
            return self.writer.finish(state, stats=stats)
        except ChatStoreError as exc:
            _log.warning("reply %d kept in memory: %s", self.message_id, exc)
            return self.writer.unsaved_message()

    def fail(self, store: ChatStore) -> tuple[Message | None, bool]:
        """The reply broke off: (the saved message, whether it was deleted as empty).

        Text already written is kept as "error"; a Continue that added nothing
        puts the message back as it was; an empty new reply is deleted.
        """
        self._release_held_back()
        previous = self.previous
        if previous is not None and self.writer.text == previous.content:
            return self._end(previous.state, previous.stats), False
        if not self.writer.text and not self.writer.reasoning:
            self._end("error")
            try:
                store.delete_message(self.message_id)
            except ChatStoreError as exc:  # the empty row becomes "interrupted" next start
                _log.warning("could not delete an empty reply: %s", exc)
            return None, True
        return self._end("error"), False

    def interrupt(self) -> None:
        """The app is closing: save the text as it is, marked "interrupted"."""
        self._release_held_back()
        self._end("interrupted")
