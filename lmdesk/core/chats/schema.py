"""The chats database's schema, its migrations, and how a connection is opened.

The schema version lives in ``PRAGMA user_version``. ``MIGRATIONS`` is the
ordered history: migration *n* turns a version *n-1* database into version
*n*. Each runs in its own transaction together with the ``user_version``
bump, so a crash mid-migration leaves the previous version intact. Never edit
a migration that has shipped; append a new one.

Durability: the database runs in WAL mode with ``synchronous=NORMAL``. A
commit is then written to the WAL file (through the OS page cache) before
``COMMIT`` returns, so it survives the process being killed, even with
``kill -9``; only a power loss or OS crash can roll back the last few
commits, and never corrupts the file. ``FULL`` would add an fsync per commit,
which would be once a second while a reply streams, for no gain against the
failure lmdesk worries about most (the app or llama.cpp crashing).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from lmdesk.core.chats.errors import (
    ChatDatabaseDamagedError,
    ChatDatabaseUnreadableError,
    SchemaTooNewError,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "conversations and their ordered messages",
        (
            """
            CREATE TABLE conversations (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                title TEXT NOT NULL,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL,
                system_prompt TEXT NOT NULL DEFAULT '',
                model_path TEXT
            )
            """,
            """
            CREATE TABLE messages (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                conversation_id INTEGER NOT NULL
                    REFERENCES conversations(id) ON DELETE CASCADE,
                position INTEGER NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
                content TEXT NOT NULL,
                created_at REAL NOT NULL,
                state TEXT NOT NULL CHECK (
                    state IN ('complete', 'streaming', 'interrupted', 'error', 'stopped')
                ),
                UNIQUE (conversation_id, position)
            )
            """,
        ),
    ),
    Migration(
        2,
        "sampling settings per conversation, generation stats per message",
        (
            "ALTER TABLE conversations ADD COLUMN sampling_json TEXT",
            "ALTER TABLE messages ADD COLUMN stats_json TEXT",
            "CREATE INDEX conversations_by_updated_at ON conversations (updated_at)",
            # Startup recovery looks only for streaming rows; keep that lookup tiny.
            "CREATE INDEX messages_streaming ON messages (state) WHERE state = 'streaming'",
        ),
    ),
    Migration(
        3,
        "a reply's thinking, kept apart from its answer",
        ("ALTER TABLE messages ADD COLUMN reasoning TEXT NOT NULL DEFAULT ''",),
    ),
    Migration(
        4,
        "named presets (system prompt and sampling); per-model chat template and preset",
        (
            """
            CREATE TABLE presets (
                name TEXT PRIMARY KEY,
                system_prompt TEXT NOT NULL DEFAULT '',
                sampling_json TEXT NOT NULL,
                updated_at REAL NOT NULL
            )
            """,
            """
            CREATE TABLE model_preferences (
                model_path TEXT PRIMARY KEY,
                chat_template TEXT,
                preset TEXT
            )
            """,
        ),
    ),
    Migration(
        5,
        "branches: the other versions of a conversation from one message on",
        (
            """
            CREATE TABLE branches (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                conversation_id INTEGER NOT NULL
                    REFERENCES conversations(id) ON DELETE CASCADE,
                parent_id INTEGER,
                first_id INTEGER NOT NULL,
                messages_json TEXT NOT NULL,
                created_at REAL NOT NULL
            )
            """,
            "CREATE INDEX branches_by_parent ON branches (conversation_id, parent_id)",
        ),
    ),
    Migration(
        6,
        "images attached to messages (kept with the conversation, in any branch)",
        (
            """
            CREATE TABLE attachments (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                conversation_id INTEGER NOT NULL
                    REFERENCES conversations(id) ON DELETE CASCADE,
                message_id INTEGER NOT NULL,
                position INTEGER NOT NULL,
                name TEXT NOT NULL,
                data BLOB NOT NULL
            )
            """,
            "CREATE INDEX attachments_by_message ON attachments (message_id, position)",
        ),
    ),
)

CURRENT_VERSION = MIGRATIONS[-1].version


def open_database(path: Path) -> sqlite3.Connection:
    """Open (creating or migrating as needed) the chats database at ``path``.

    The connection is in autocommit mode (``isolation_level=None``): the store
    opens its own ``BEGIN IMMEDIATE`` transactions, so nothing stays
    uncommitted by accident. It may be used from any thread, one at a time.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    try:
        version = _read_version(conn, path)
        check_integrity(conn, path)
        if version > CURRENT_VERSION:
            raise SchemaTooNewError(path, found=version, supported=CURRENT_VERSION)
        if version == 0 and _has_tables(conn):
            raise ChatDatabaseUnreadableError(path, "it is an SQLite file, but not lmdesk's")
        _configure(conn, path)
        if 0 < version < CURRENT_VERSION:
            _backup(conn, path, version)
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    """Apply every migration newer than the database, each in its own transaction.

    The version is re-read inside the write lock, so two lmdesk processes
    starting at once cannot apply the same migration twice.
    """
    for migration in MIGRATIONS:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(conn) < migration.version:
                log.info(
                    "chats database: migrating to v%d (%s)",
                    migration.version,
                    migration.description,
                )
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {migration.version:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _read_version(conn: sqlite3.Connection, path: Path) -> int:
    try:
        return schema_version(conn)
    except sqlite3.DatabaseError as exc:  # "file is not a database", ...
        raise ChatDatabaseUnreadableError(path, str(exc)) from exc


def check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    """``PRAGMA quick_check``: raise `ChatDatabaseDamagedError` rather than write into damage."""
    try:
        rows = [str(row[0]) for row in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as exc:  # "database disk image is malformed"
        raise ChatDatabaseDamagedError(path, str(exc)) from exc
    if rows != ["ok"]:
        raise ChatDatabaseDamagedError(path, "; ".join(rows)[:300])


def _has_tables(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
    return int(row[0]) > 0


def _configure(conn: sqlite3.Connection, path: Path) -> None:
    mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
    if mode != "wal":
        # Some network file systems cannot do WAL's shared memory. The rollback
        # journal still keeps commits atomic, so carry on rather than refuse.
        log.warning("chats database %s: WAL unavailable, journal_mode=%s", path, mode)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")


def _backup(conn: sqlite3.Connection, path: Path, version: int) -> None:
    """Copy an older database aside before migrating it, once per old version."""
    target = path.with_name(f"{path.name}.v{version}.bak")
    if target.exists():
        return
    backup = sqlite3.connect(target)
    try:
        conn.backup(backup)
    finally:
        backup.close()
    log.info("chats database: saved a copy of schema v%d at %s", version, target)
