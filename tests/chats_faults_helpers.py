"""Real faults for a chats database: a full disk (SQLite's max_page_count) and a bad page.

SQLite answers SQLITE_FULL ("database or disk is full") when ``max_page_count`` is
reached, exactly as it does on a full disk; a page overwritten with garbage is what a
bad sector or a torn write leaves.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lmdesk.core.chats import ChatStore

PAGE_SIZE = 4096


def fill_disk(store: ChatStore) -> None:
    """No page may be added to the database any more (a full disk, as SQLite sees it)."""
    conn: sqlite3.Connection = store._db._conn  # the store's own connection
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def free_disk(store: ChatStore) -> None:
    store._db._conn.execute("PRAGMA max_page_count = 1073741823")


def damage(path: Path, page: int) -> None:
    """Overwrite one page of the file with garbage, as a bad sector or a torn write would."""
    with path.open("r+b") as stream:
        stream.seek(page * PAGE_SIZE)
        stream.write(b"\xa5" * PAGE_SIZE)


def damaged_database(path: Path, conversations: int = 60) -> None:
    """A database of ``conversations`` chats, one message each, with its second-last page hit."""
    with ChatStore(path) as store:
        for n in range(conversations):
            conversation = store.create_conversation(f"chat {n}")
            store.add_message(conversation.id, "user", f"question {n} " + "x" * 500)
    with sqlite3.connect(path) as conn:  # fold the WAL into the file, as a clean exit does
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    damage(path, path.stat().st_size // PAGE_SIZE - 2)


def use_up_space(store: ChatStore) -> None:
    """Fill the disk, then the room left in the pages, as another program writing would:
    after this, a message that grows needs a page SQLite may not add."""
    from lmdesk.core.chats.errors import ChatDiskFullError

    fill_disk(store)
    filler = store.create_conversation("filler")
    for size in (1000, 100, 10, 1):
        try:
            while True:
                store.add_message(filler.id, "user", "f" * size)
        except ChatDiskFullError:
            continue
