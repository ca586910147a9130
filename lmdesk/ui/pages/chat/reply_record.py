"""One streaming reply's way to disk: start (or resume for Continue), append, finish.

No Qt: the session feeds it the worker's chunks and calls `flush_if_due`
from a one-second timer, so a model that stalls still has its text saved.
The row stays ``"streaming"`` until the end, so a crash leaves it
``"interrupted"`` on the next start, with everything saved so far.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lmdesk.core.chats import ChatStore, Message, MessageState, MessageStats, ReplyWriter

if TYPE_CHECKING:
    from lmdesk.core.engine import ReplyStats

_log = logging.getLogger(__name__)


def message_stats(stats: ReplyStats) -> MessageStats:
    return MessageStats(
        prompt_tokens=stats.prompt_tokens,
        generated_tokens=stats.generated_tokens,
        ttft_s=stats.ttft_s,
        tokens_per_s=stats.tokens_per_s,
        stop_reason=stats.stop_reason,
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

    def append(self, text: str) -> bool:
        """Add streamed text; True when this saved to the database."""
        return self.writer.append(text)

    def flush_if_due(self) -> bool:
        return self.writer.flush_if_due()

    def finish(self, stats: ReplyStats) -> Message | None:
        """Save the whole reply with its stats: "stopped" after Stop, else "complete"."""
        expected = (self.previous.content if self.previous else "") + stats.text
        if self.writer.text != expected:  # never seen: chunks always add up to the text
            if expected.startswith(self.writer.text):
                self.writer.append(expected[len(self.writer.text) :])
            else:
                _log.warning("the streamed text differs from the reply's; keeping what was shown")
        state: MessageState = "stopped" if stats.stop_reason == "user_stop" else "complete"
        return self.writer.finish(state, stats=message_stats(stats))

    def fail(self, store: ChatStore) -> tuple[Message | None, bool]:
        """The reply broke off: (the saved message, whether it was deleted as empty).

        Text already written is kept as "error"; a Continue that added nothing
        puts the message back as it was; an empty new reply is deleted.
        """
        previous = self.previous
        if previous is not None and self.writer.text == previous.content:
            return self.writer.finish(previous.state, stats=previous.stats), False
        if not self.writer.text:
            self.writer.finish("error")
            store.delete_message(self.message_id)
            return None, True
        return self.writer.finish("error"), False

    def interrupt(self) -> None:
        """The app is closing: save the text as it is, marked "interrupted"."""
        self.writer.finish("interrupted")
