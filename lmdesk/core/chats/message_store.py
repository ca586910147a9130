"""The messages half of ChatStore: appending, editing, deleting, and saving streamed replies.

A user's message is committed before this returns, so it is on disk before
generation starts. A reply starts as an empty ``"streaming"`` row with a
``ReplyWriter`` behind it that saves its text at least once a second and its
final state at the end; on the next start any reply a crash left
``"streaming"`` becomes ``"interrupted"``, with its text kept.

``MessageStore`` is a mixin: ``ChatStore`` inherits it and provides the
database and the clocks (``store`` has the conversations and the lifecycle).
"""

from __future__ import annotations

from collections.abc import Callable

from lmdesk.core.chats import database as db
from lmdesk.core.chats import rows
from lmdesk.core.chats.errors import MessageNotFoundError
from lmdesk.core.chats.models import (
    FINAL_STATES,
    Message,
    MessageState,
    MessageStats,
    Role,
    is_role,
)
from lmdesk.core.chats.reply_writer import ReplyWriter


class MessageStore:
    """Messages in order within their conversation; mixed into ``ChatStore``."""

    _db: db.ChatDatabase
    _flush_interval_s: float
    _clock: Callable[[], float]
    """Times reply flushes (monotonic)."""
    _now: Callable[[], float]
    """Stamps rows (Unix time)."""

    def messages(self, conversation_id: int) -> list[Message]:
        """The conversation's messages in order."""
        with self._db.read() as conn:
            db.require_conversation(conn, conversation_id)
            return db.fetch_messages(conn, conversation_id)

    def get_message(self, message_id: int) -> Message:
        with self._db.read() as conn:
            return db.fetch_message(conn, message_id)

    def add_message(
        self,
        conversation_id: int,
        role: Role,
        content: str,
        *,
        state: MessageState = "complete",
        stats: MessageStats | None = None,
        reasoning: str = "",
    ) -> Message:
        """Append a message (a reply's thinking apart), committed before this returns.

        Streaming replies go through ``begin_reply`` instead, so that a
        ``"streaming"`` row always has a writer (or a crash) behind it.
        """
        if state not in FINAL_STATES:
            raise ValueError(f"cannot add a message in state {state!r}; use begin_reply()")
        return self._append(
            conversation_id, role, content, state=state, stats=stats, reasoning=reasoning
        )

    def begin_reply(
        self, conversation_id: int, *, flush_interval_s: float | None = None
    ) -> ReplyWriter:
        """Start an assistant reply: an empty ``"streaming"`` message and its writer."""
        message = self._append(conversation_id, "assistant", "", state="streaming", stats=None)
        return self._writer(message, flush_interval_s)

    def resume_reply(
        self, message_id: int, *, flush_interval_s: float | None = None
    ) -> ReplyWriter:
        """Extend a finished reply (Continue): its row is ``"streaming"`` again meanwhile,
        so a crash during Continue still leaves it ``"interrupted"``, its text kept."""
        content = self.get_message(message_id).content
        message = self.save_reply_final(message_id, content, state="streaming", stats=None)
        if message is None:  # deleted in between
            raise MessageNotFoundError(message_id)
        return self._writer(message, flush_interval_s)

    def _writer(self, message: Message, flush_interval_s: float | None) -> ReplyWriter:
        interval = self._flush_interval_s if flush_interval_s is None else flush_interval_s
        return ReplyWriter(message, sink=self, flush_interval_s=interval, clock=self._clock)

    def save_reply_progress(self, message_id: int, content: str, reasoning: str = "") -> bool:
        """Save a streaming reply's text and thinking so far (its ReplyWriter calls this)."""
        with self._db.write() as conn:
            cursor = conn.execute(
                "UPDATE messages SET content = ?, reasoning = ? WHERE id = ?",
                (content, reasoning, message_id),
            )
            return cursor.rowcount > 0

    def save_reply_final(
        self,
        message_id: int,
        content: str,
        *,
        state: MessageState,
        stats: MessageStats | None,
        reasoning: str | None = None,
    ) -> Message | None:
        """Save a reply's final text, state and stats (and thinking, unless None: kept);
        None if it was deleted meanwhile."""
        with self._db.write() as conn:
            cursor = conn.execute(
                "UPDATE messages SET content = ?, state = ?, stats_json = ?,"
                " reasoning = coalesce(?, reasoning) WHERE id = ?",
                (content, state, rows.dump_stats(stats), reasoning, message_id),
            )
            if cursor.rowcount == 0:
                return None
            message = db.fetch_message(conn, message_id)
            db.touch(conn, message.conversation_id, self._now())
            return message

    def replace_message_content(self, message_id: int, content: str) -> Message:
        """Edit a message's text in place (edit-and-resend edits the user's message)."""
        with self._db.write() as conn:
            cursor = conn.execute(
                "UPDATE messages SET content = ? WHERE id = ?", (content, message_id)
            )
            if cursor.rowcount == 0:
                raise MessageNotFoundError(message_id)
            message = db.fetch_message(conn, message_id)
            db.touch(conn, message.conversation_id, self._now())
            return message

    def delete_messages_after(self, message_id: int) -> int:
        """Delete every later message of the same conversation; return how many.

        Regenerate deletes after the user's message and begins a new reply;
        edit-and-resend replaces the user's message's text, then does the same.
        """
        with self._db.write() as conn:
            message = db.fetch_message(conn, message_id)
            cursor = conn.execute(
                "DELETE FROM messages WHERE conversation_id = ? AND position > ?",
                (message.conversation_id, message.position),
            )
            db.touch(conn, message.conversation_id, self._now())
            return cursor.rowcount

    def delete_message(self, message_id: int) -> bool:
        """Delete one message; the others keep their order. False if it did not exist."""
        with self._db.write() as conn:
            cursor = conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            return cursor.rowcount > 0

    def recover_interrupted(self) -> int:
        """Mark replies left ``"streaming"`` by a dead process as ``"interrupted"``.

        The text they had saved is kept. Returns how many there were.
        """
        with self._db.write() as conn:
            cursor = conn.execute(
                "UPDATE messages SET state = 'interrupted' WHERE state = 'streaming'"
            )
            return cursor.rowcount

    def _append(
        self,
        conversation_id: int,
        role: Role,
        content: str,
        *,
        state: MessageState,
        stats: MessageStats | None,
        reasoning: str = "",
    ) -> Message:
        if not is_role(role):
            raise ValueError(f"unknown role {role!r}")
        now = self._now()
        with self._db.write() as conn:
            db.require_conversation(conn, conversation_id)
            message_id = db.insert_message(
                conn,
                conversation_id,
                role=role,
                content=content,
                created_at=now,
                state=state,
                stats_json=rows.dump_stats(stats),
                reasoning=reasoning,
            )
            db.touch(conn, conversation_id, now)
            return db.fetch_message(conn, message_id)
