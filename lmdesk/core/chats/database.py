"""The one SQLite connection behind ChatStore: locking, transactions, row lookups.

Every use takes one re-entrant lock, so the connection may be shared by the
GUI thread and the inference worker; each transaction is short (no fsync in
WAL + ``synchronous=NORMAL``, see ``schema``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lmdesk.core.chats import rows, schema, search
from lmdesk.core.chats.errors import (
    ChatDatabaseReadOnlyError,
    ChatDiskFullError,
    ChatWriteError,
    ConversationNotFoundError,
    MessageNotFoundError,
)
from lmdesk.core.chats.models import Conversation, Message, MessageState, Role


class ChatDatabase:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._conn = schema.open_database(path)
        self._conn.row_factory = sqlite3.Row
        search.register(self._conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding SQLite's write lock from its start.

        ``BEGIN IMMEDIATE`` rather than a deferred begin, so a second lmdesk
        process waits (``busy timeout``) instead of failing halfway through.
        """
        with self._lock, write_errors(self.path):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                # SQLite may already have rolled back (disk full, I/O error).
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for reads that span several statements."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                if self._conn.in_transaction:
                    self._conn.execute("COMMIT")


@contextmanager
def write_errors(path: Path) -> Iterator[None]:
    """SQLite's write failures as errors that name the file: full, read-only, or other."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code == sqlite3.SQLITE_FULL:
            raise ChatDiskFullError(path) from exc
        if code == sqlite3.SQLITE_READONLY:
            raise ChatDatabaseReadOnlyError(path) from exc
        raise ChatWriteError(path, str(exc)) from exc
    except sqlite3.DatabaseError as exc:  # I/O errors, a file damaged while open
        raise ChatWriteError(path, str(exc)) from exc


def fetch_conversation(conn: sqlite3.Connection, conversation_id: int) -> Conversation:
    row = conn.execute(
        f"SELECT {rows.CONVERSATION_COLUMNS} FROM conversations WHERE id = ?",
        (conversation_id,),
    ).fetchone()
    if row is None:
        raise ConversationNotFoundError(conversation_id)
    return rows.conversation(row)


def require_conversation(conn: sqlite3.Connection, conversation_id: int) -> None:
    if conn.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone():
        return
    raise ConversationNotFoundError(conversation_id)


def fetch_message(conn: sqlite3.Connection, message_id: int) -> Message:
    row = conn.execute(
        f"SELECT {rows.MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)
    ).fetchone()
    if row is None:
        raise MessageNotFoundError(message_id)
    return rows.message(row)


def fetch_messages(conn: sqlite3.Connection, conversation_id: int) -> list[Message]:
    """The conversation's messages in order (none if it does not exist)."""
    cursor = conn.execute(
        f"SELECT {rows.MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY position",
        (conversation_id,),
    )
    return [rows.message(row) for row in cursor]


def insert_conversation(
    conn: sqlite3.Connection,
    *,
    title: str,
    created_at: float,
    updated_at: float,
    system_prompt: str,
    model_path: str | None,
    sampling_json: str | None,
) -> int:
    cursor = conn.execute(
        "INSERT INTO conversations (title, created_at, updated_at, system_prompt, model_path,"
        " sampling_json) VALUES (?, ?, ?, ?, ?, ?)",
        (title, created_at, updated_at, system_prompt, model_path, sampling_json),
    )
    return last_row_id(cursor)


def insert_message(
    conn: sqlite3.Connection,
    conversation_id: int,
    *,
    role: Role,
    content: str,
    created_at: float,
    state: MessageState,
    stats_json: str | None,
    reasoning: str = "",
) -> int:
    """Append a message after the conversation's last one; return its id."""
    cursor = conn.execute(
        "INSERT INTO messages (conversation_id, position, role, content, created_at, state,"
        " stats_json, reasoning) VALUES (?, (SELECT coalesce(max(position) + 1, 0) FROM messages"
        " WHERE conversation_id = ?), ?, ?, ?, ?, ?, ?)",
        (conversation_id, conversation_id, role, content, created_at, state, stats_json, reasoning),
    )
    return last_row_id(cursor)


def touch(conn: sqlite3.Connection, conversation_id: int, now: float) -> None:
    """Mark the conversation active now, so it moves to the top of the list."""
    conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id))


def last_row_id(cursor: sqlite3.Cursor) -> int:
    if cursor.lastrowid is None:  # pragma: no cover - an INSERT always sets it
        raise RuntimeError("SQLite did not report the new row's id")
    return cursor.lastrowid
