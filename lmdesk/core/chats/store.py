"""ChatStore: every conversation and message, saved as it happens, in one SQLite file.

Nothing a person typed or a model answered should ever be lost: a user's
message is committed before generation starts, a streaming reply is saved at
least once a second (see ``reply_writer``), and on the next start any reply
left ``"streaming"`` by a crash becomes ``"interrupted"`` with its text kept.

One store serves the whole app and is thread-safe (see ``database``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from lmdesk.core.chats import database as db
from lmdesk.core.chats import export, rows, search
from lmdesk.core.chats.errors import ConversationNotFoundError, MessageNotFoundError
from lmdesk.core.chats.models import (
    FINAL_STATES,
    Conversation,
    Message,
    MessageState,
    MessageStats,
    Role,
    SearchHit,
    is_role,
)
from lmdesk.core.chats.reply_writer import DEFAULT_FLUSH_INTERVAL_S, ReplyWriter
from lmdesk.core.paths import data_dir

DATABASE_FILENAME = "chats.sqlite3"
DEFAULT_TITLE = "New chat"


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET
"""Leaves an ``update_conversation`` field as it is (None is a real value there)."""


def default_database_path() -> Path:
    """``chats.sqlite3`` in lmdesk's per-user data folder (``LMDESK_HOME`` moves it)."""
    return data_dir() / DATABASE_FILENAME


class ChatStore:
    """Conversations and messages in one SQLite database; thread-safe."""

    def __init__(
        self,
        path: Path,
        *,
        recover: bool = True,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], float] = time.time,
    ) -> None:
        """Open or create the database at ``path``, migrating an older one.

        ``recover`` marks replies a previous run left ``"streaming"`` as
        ``"interrupted"``; pass False only to look at a database as it was
        left. ``clock`` times reply flushes; ``now`` stamps rows (Unix time).
        """
        self._db = db.ChatDatabase(Path(path))
        self._flush_interval_s = flush_interval_s
        self._clock = clock
        self._now = now
        if recover:
            self.recover_interrupted()

    @classmethod
    def open(
        cls,
        path: Path | None = None,
        *,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
    ) -> ChatStore:
        """The app's entry point: the default database unless ``path`` is given."""
        return cls(
            default_database_path() if path is None else path,
            flush_interval_s=flush_interval_s,
        )

    @property
    def path(self) -> Path:
        return self._db.path

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ChatStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- conversations ---------------------------------------------------

    def create_conversation(
        self,
        title: str = DEFAULT_TITLE,
        *,
        system_prompt: str = "",
        model_path: str | None = None,
        sampling: Mapping[str, Any] | None = None,
    ) -> Conversation:
        now = self._now()
        with self._db.write() as conn:
            conversation_id = db.insert_conversation(
                conn,
                title=title,
                created_at=now,
                updated_at=now,
                system_prompt=system_prompt,
                model_path=model_path,
                sampling_json=_dump(sampling),
            )
            return db.fetch_conversation(conn, conversation_id)

    def get_conversation(self, conversation_id: int) -> Conversation:
        with self._db.read() as conn:
            return db.fetch_conversation(conn, conversation_id)

    def list_conversations(self) -> list[Conversation]:
        """All conversations, the most recently active first."""
        with self._db.read() as conn:
            cursor = conn.execute(
                f"SELECT {rows.CONVERSATION_COLUMNS} FROM conversations"
                " ORDER BY updated_at DESC, id DESC"
            )
            return [rows.conversation(row) for row in cursor]

    def rename_conversation(self, conversation_id: int, title: str) -> Conversation:
        return self.update_conversation(conversation_id, title=title)

    def update_conversation(
        self,
        conversation_id: int,
        *,
        title: str | _Unset = UNSET,
        system_prompt: str | _Unset = UNSET,
        model_path: str | _Unset | None = UNSET,
        sampling: Mapping[str, Any] | _Unset | None = UNSET,
    ) -> Conversation:
        """Change the given fields, leave the others, and mark the conversation active."""
        changes: dict[str, object] = {"updated_at": self._now()}
        if not isinstance(title, _Unset):
            changes["title"] = title
        if not isinstance(system_prompt, _Unset):
            changes["system_prompt"] = system_prompt
        if not isinstance(model_path, _Unset):
            changes["model_path"] = model_path
        if not isinstance(sampling, _Unset):
            changes["sampling_json"] = _dump(sampling)
        assignments = ", ".join(f"{column} = ?" for column in changes)
        with self._db.write() as conn:
            cursor = conn.execute(
                f"UPDATE conversations SET {assignments} WHERE id = ?",
                (*changes.values(), conversation_id),
            )
            if cursor.rowcount == 0:
                raise ConversationNotFoundError(conversation_id)
            return db.fetch_conversation(conn, conversation_id)

    def delete_conversation(self, conversation_id: int) -> bool:
        """Delete a conversation and its messages; False if it did not exist."""
        with self._db.write() as conn:
            cursor = conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            return cursor.rowcount > 0

    def search(self, text: str) -> list[SearchHit]:
        """Conversations whose title or any message contains ``text``, ignoring case.

        Most recently active first; each hit names the first matching message
        and an excerpt of it. Empty text matches every conversation.
        """
        needle = text.strip().casefold()
        if not needle:
            return [SearchHit(c, None, None) for c in self.list_conversations()]
        with self._db.read() as conn:
            cursor = conn.execute(search.QUERY, {"q": needle})
            return [
                SearchHit(
                    conversation=rows.conversation(row),
                    message_id=row["hit_message_id"],
                    snippet=None
                    if row["hit_content"] is None
                    else search.snippet(row["hit_content"], needle),
                )
                for row in cursor
            ]

    # -- messages --------------------------------------------------------

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
    ) -> Message:
        """Append a message, committed before this returns.

        Streaming replies go through ``begin_reply`` instead, so that a
        ``"streaming"`` row always has a writer (or a crash) behind it.
        """
        if state not in FINAL_STATES:
            raise ValueError(f"cannot add a message in state {state!r}; use begin_reply()")
        return self._append(conversation_id, role, content, state=state, stats=stats)

    def begin_reply(
        self, conversation_id: int, *, flush_interval_s: float | None = None
    ) -> ReplyWriter:
        """Start an assistant reply: an empty ``"streaming"`` message and its writer."""
        message = self._append(conversation_id, "assistant", "", state="streaming", stats=None)
        interval = self._flush_interval_s if flush_interval_s is None else flush_interval_s
        return ReplyWriter(message, sink=self, flush_interval_s=interval, clock=self._clock)

    def save_reply_progress(self, message_id: int, content: str) -> bool:
        """Save a streaming reply's text so far (its ReplyWriter calls this)."""
        with self._db.write() as conn:
            cursor = conn.execute(
                "UPDATE messages SET content = ? WHERE id = ?", (content, message_id)
            )
            return cursor.rowcount > 0

    def save_reply_final(
        self,
        message_id: int,
        content: str,
        *,
        state: MessageState,
        stats: MessageStats | None,
    ) -> Message | None:
        """Save a reply's final text, state and stats; None if it was deleted meanwhile."""
        with self._db.write() as conn:
            cursor = conn.execute(
                "UPDATE messages SET content = ?, state = ?, stats_json = ? WHERE id = ?",
                (content, state, rows.dump_stats(stats), message_id),
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

    # -- export and import -----------------------------------------------

    def export_markdown(self, conversation_id: int) -> str:
        with self._db.read() as conn:
            conversation = db.fetch_conversation(conn, conversation_id)
            return export.to_markdown(conversation, db.fetch_messages(conn, conversation_id))

    def export_json(self, conversation_id: int) -> dict[str, Any]:
        with self._db.read() as conn:
            conversation = db.fetch_conversation(conn, conversation_id)
            return export.to_json(conversation, db.fetch_messages(conn, conversation_id))

    def import_json(self, data: object) -> Conversation:
        """Recreate an exported conversation, with new ids, in one transaction."""
        imported = export.from_json(data)
        with self._db.write() as conn:
            conversation_id = db.insert_conversation(
                conn,
                title=imported.title,
                created_at=imported.created_at,
                updated_at=imported.updated_at,
                system_prompt=imported.system_prompt,
                model_path=imported.model_path,
                sampling_json=_dump(imported.sampling),
            )
            for m in imported.messages:
                db.insert_message(
                    conn,
                    conversation_id,
                    role=m.role,
                    content=m.content,
                    created_at=m.created_at,
                    state=m.state,
                    stats_json=rows.dump_stats(m.stats),
                )
            return db.fetch_conversation(conn, conversation_id)

    def sqlite_settings(self) -> dict[str, object]:
        """The connection's durability settings, for diagnostics and tests."""
        names = ("journal_mode", "synchronous", "foreign_keys", "user_version")
        with self._db.read() as conn:
            return {name: conn.execute(f"PRAGMA {name}").fetchone()[0] for name in names}

    def _append(
        self,
        conversation_id: int,
        role: Role,
        content: str,
        *,
        state: MessageState,
        stats: MessageStats | None,
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
            )
            db.touch(conn, conversation_id, now)
            return db.fetch_message(conn, message_id)


def _dump(value: Mapping[str, Any] | None) -> str | None:
    return rows.dump_json(None if value is None else dict(value))
