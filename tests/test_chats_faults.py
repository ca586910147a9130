"""The chats database under faults: a full disk during a reply, a read-only file.

The disk is made full for real: SQLite's ``max_page_count`` makes it answer
SQLITE_FULL ("database or disk is full") exactly as a full disk does.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lmdesk.core.chats import ChatStore
from lmdesk.core.chats.errors import ChatDatabaseReadOnlyError, ChatDiskFullError
from lmdesk.core.chats.reply_record import ReplyRecord
from lmdesk.core.engine import ReplyStats

CHUNK = "lorem ipsum dolor sit amet " * 400  # ~11 KB: every save needs new pages


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fill_disk(store: ChatStore) -> None:
    """No page may be added to the database any more (a full disk, as SQLite sees it)."""
    conn: sqlite3.Connection = store._db._conn  # the store's own connection
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def free_disk(store: ChatStore) -> None:
    store._db._conn.execute("PRAGMA max_page_count = 1073741823")


def stats(text: str) -> ReplyStats:
    return ReplyStats(
        text=text,
        prompt_tokens=3,
        cached_tokens=0,
        generated_tokens=9,
        ttft_s=0.1,
        tokens_per_s=10.0,
        total_s=1.0,
        stop_reason="stop",
        seed=1,
    )


def test_a_full_disk_during_a_reply_keeps_it_in_memory_then_saves_it(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "chats.sqlite3"
    store = ChatStore(path, clock=clock)
    conversation = store.create_conversation("c")
    store.add_message(conversation.id, "user", "hi")
    record = ReplyRecord.begin(store, conversation.id, flush_interval_s=1.0)
    fill_disk(store)

    clock.now = 1.0
    assert record.append(CHUNK) is False  # the save failed: no exception, the text kept
    assert isinstance(record.save_error, ChatDiskFullError)
    assert str(path) in str(record.save_error) and "disk is full" in str(record.save_error)
    clock.now = 1.5
    assert record.append(CHUNK) is False and record.writer.flush_count == 0
    final = record.finish(stats(CHUNK * 2))  # the reply ends even though it cannot be saved
    assert final is not None and final.content == CHUNK * 2 and final.state == "complete"
    assert record.writer.finished and not record.saved
    assert record.retry_save() is False  # still full

    free_disk(store)
    assert record.retry_save() is True and record.saved and record.save_error is None
    store.close()
    with ChatStore(path) as reopened:
        saved = reopened.messages(conversation.id)[-1]
    assert saved.content == CHUNK * 2 and saved.state == "complete"
    assert saved.stats is not None and saved.stats.generated_tokens == 9


def test_after_a_full_disk_the_next_reply_can_start(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "chats.sqlite3", clock=Clock())
    conversation = store.create_conversation("c")
    record = ReplyRecord.begin(store, conversation.id, flush_interval_s=0.0)
    fill_disk(store)
    record.append(CHUNK)
    record.finish(stats(CHUNK))
    with pytest.raises(ChatDiskFullError):
        store.add_message(conversation.id, "user", CHUNK)  # still full: a clear error
    free_disk(store)
    assert record.retry_save()
    following = ReplyRecord.begin(store, conversation.id, flush_interval_s=0.0)
    following.append("more")
    assert following.finish(stats("more")) is not None and following.saved
    store.close()


def test_a_read_only_database_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite3"
    ChatStore(path).close()
    uri = f"file:{path}?mode=ro"
    store = ChatStore(path, recover=False)
    store._db._conn.close()
    store._db._conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    with pytest.raises(ChatDatabaseReadOnlyError) as caught:
        store.create_conversation("x")
    assert str(path) in str(caught.value) and "read-only" in str(caught.value)
