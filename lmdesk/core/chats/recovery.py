"""A damaged chats database: keep a copy of it, and rebuild the file from what can be read.

`recover_database` moves the damaged file (and its WAL) aside as
``chats.sqlite3.damaged-<time>`` (`keep_aside`, which alone is "start empty"),
creates a fresh database in its place, and copies every conversation and message
row SQLite can still read, one row at a time, so one bad page costs only the rows
on it. `carry_over` copies the chats of the in-memory store the app used while the
person decided into the file's store.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from lmdesk.core.chats import rows, schema
from lmdesk.core.chats.store import DEFAULT_TITLE, ChatStore

log = logging.getLogger(__name__)


_LATER_TABLES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "branches",
        ("id", "conversation_id", "parent_id", "first_id", "messages_json", "created_at"),
        "id",
    ),
    ("presets", ("name", "system_prompt", "sampling_json", "updated_at"), "rowid"),
    (
        "attachments",
        ("id", "conversation_id", "message_id", "position", "name", "data"),
        "id",
    ),
    ("model_preferences", ("model_path", "chat_template", "preset"), "rowid"),
)
"""Tables of schema v4 and later: branches, presets, per-model preferences."""


@dataclass(frozen=True)
class Recovery:
    """What `recover_database` kept: the damaged copy's path and the rows rebuilt."""

    copy: Path
    conversations: int
    messages: int


def keep_aside(path: Path, *, now: float | None = None) -> Path:
    """Move the damaged ``path`` (and its WAL) to ``<name>.damaged-<time>`` beside it."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    copy = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            os.replace(source, Path(f"{copy}{suffix}"))
    return copy


def carry_over(source: ChatStore, target: ChatStore) -> dict[int, int]:
    """Copy the conversations of ``source`` into ``target``; old id -> new id. An untouched
    "New chat" (no message, no title of its own) is left behind: there is nothing in it."""
    moved = {}
    for conversation in reversed(source.list_conversations()):  # oldest first
        if conversation.title == DEFAULT_TITLE and not source.messages(conversation.id):
            continue
        moved[conversation.id] = target.import_json(source.export_json(conversation.id)).id
    return moved


def recover_database(path: Path, *, now: float | None = None) -> Recovery:
    """Keep the damaged ``path`` as a copy beside it and rebuild ``path`` from its readable rows."""
    copy = keep_aside(path, now=now)
    fresh = schema.open_database(path)
    try:
        damaged = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
        try:
            conversations = _copy_rows(damaged, fresh, "conversations", rows.CONVERSATION_FIELDS)
            messages = _copy_rows(damaged, fresh, "messages", rows.MESSAGE_FIELDS)
            for table, columns, key in _LATER_TABLES:
                _copy_rows(damaged, fresh, table, columns, key=key)
        finally:
            damaged.close()
    finally:
        fresh.close()
    log.warning(
        "chats database %s was damaged: kept as %s; %d conversations and %d messages recovered",
        path,
        copy,
        conversations,
        messages,
    )
    return Recovery(copy, conversations, messages)


def _copy_rows(
    source: sqlite3.Connection,
    target: sqlite3.Connection,
    table: str,
    columns: tuple[str, ...],
    *,
    key: str = "id",
) -> int:
    """Copy rows by rowid, skipping those that cannot be read or do not fit the schema.

    Only the columns the damaged file has are copied (an older schema lacks later ones,
    which then take their defaults); a table it does not have at all copies nothing.
    """
    present = _columns(source, table)
    columns = tuple(c for c in columns if c in present)
    if not columns:
        return 0
    try:
        ids: list[int] | range = [
            int(row[0]) for row in source.execute(f"SELECT {key} FROM {table} ORDER BY {key}")
        ]
    except sqlite3.DatabaseError as exc:  # a scan crosses the bad page: look rows up one by one
        log.warning("cannot list the %s of the damaged database: %s", table, exc)
        ids = range(1, _last_id(source, table) + 1)
    names = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    copied = 0
    target.execute("BEGIN IMMEDIATE")
    for row_id in ids:
        try:
            row = source.execute(
                f"SELECT {names} FROM {table} WHERE {key} = ?", (row_id,)
            ).fetchone()
            if row is None:
                continue
            target.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(row))
            copied += 1
        except sqlite3.DatabaseError as exc:  # a damaged page, or a row the schema refuses
            log.warning("skipped %s row %d of the damaged database: %s", table, row_id, exc)
    target.execute("COMMIT")
    return copied


def _columns(source: sqlite3.Connection, table: str) -> set[str]:
    try:
        return {str(row[1]) for row in source.execute(f"PRAGMA table_info({table})")}
    except sqlite3.DatabaseError:
        return set()


def _last_id(source: sqlite3.Connection, table: str) -> int:
    """The highest id ever given in ``table`` (AUTOINCREMENT keeps it), or 0 if unreadable."""
    for query in ("SELECT seq FROM sqlite_sequence WHERE name = ?", f"SELECT max(id) FROM {table}"):
        try:
            row = source.execute(query, (table,) if "?" in query else ()).fetchone()
        except sqlite3.DatabaseError:
            continue
        if row is not None and row[0] is not None:
            return int(row[0])
    return 0
