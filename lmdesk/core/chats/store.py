"""ChatStore: every conversation and message, saved as it happens, in one SQLite file.

Nothing a person typed or a model answered should ever be lost: a user's
message is committed before generation starts, a streaming reply is saved at
least once a second (see ``reply_writer``), and on the next start any reply
left ``"streaming"`` by a crash becomes ``"interrupted"`` with its text kept.

This module opens and closes the store and holds the conversations (create,
list, update, delete, search, export and import); the messages and the
streamed replies' saves are in ``message_store``, which ``ChatStore`` inherits.
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
from lmdesk.core.chats.attachment_store import AttachmentStore
from lmdesk.core.chats.branch_store import BranchStore
from lmdesk.core.chats.errors import ConversationNotFoundError
from lmdesk.core.chats.message_store import MessageStore
from lmdesk.core.chats.models import Conversation, SearchHit
from lmdesk.core.chats.preference_store import PreferenceStore
from lmdesk.core.chats.reply_writer import DEFAULT_FLUSH_INTERVAL_S
from lmdesk.core.paths import data_dir

DATABASE_FILENAME = "chats.sqlite3"
DEFAULT_TITLE = "New chat"
"""The title of a conversation nobody has named yet (its first message names it)."""


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET
"""Leaves an ``update_conversation`` field as it is (None is a real value there)."""


def default_database_path() -> Path:
    """``chats.sqlite3`` in lmdesk's per-user data folder (``LMDESK_HOME`` moves it)."""
    return data_dir() / DATABASE_FILENAME


class ChatStore(MessageStore, BranchStore, AttachmentStore, PreferenceStore):
    """Conversations and messages in one SQLite database; thread-safe.

    The message methods (``add_message``, ``begin_reply``, ...) come from
    ``MessageStore``; branches from ``BranchStore``; images from ``AttachmentStore``;
    presets and per-model preferences
    from ``PreferenceStore``.
    """

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
                    reasoning=m.reasoning,
                )
            return db.fetch_conversation(conn, conversation_id)

    def sqlite_settings(self) -> dict[str, object]:
        """The connection's durability settings, for diagnostics and tests."""
        names = ("journal_mode", "synchronous", "foreign_keys", "user_version")
        with self._db.read() as conn:
            return {name: conn.execute(f"PRAGMA {name}").fetchone()[0] for name in names}


def _dump(value: Mapping[str, Any] | None) -> str | None:
    return rows.dump_json(None if value is None else dict(value))
