"""The chats database under faults: a full disk during a reply, a read-only file.

The disk is made full for real: SQLite's ``max_page_count`` makes it answer
SQLITE_FULL ("database or disk is full") exactly as a full disk does.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from chats_faults_helpers import damage, damaged_database, fill_disk, free_disk

from lmdesk.core.chats import ChatStore
from lmdesk.core.chats.errors import (
    ChatDatabaseDamagedError,
    ChatDatabaseReadOnlyError,
    ChatDiskFullError,
)
from lmdesk.core.chats.recovery import recover_database
from lmdesk.core.chats.reply_record import ReplyRecord
from lmdesk.core.engine import ReplyStats

CHUNK = "lorem ipsum dolor sit amet " * 400  # ~11 KB: every save needs new pages


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


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


def test_a_damaged_database_is_refused_then_kept_aside_and_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite3"
    damaged_database(path)

    with pytest.raises(ChatDatabaseDamagedError) as caught:
        ChatStore(path)
    assert str(path) in str(caught.value)

    recovery = recover_database(path, now=0)
    assert (
        recovery.copy.name
        == f"chats.sqlite3.damaged-{time.strftime('%Y%m%d-%H%M%S', time.localtime(0))}"
    )
    assert recovery.copy.exists() and 0 < recovery.messages < 60
    assert recovery.conversations == 60  # their pages were not hit
    with ChatStore(path) as store:  # opens cleanly now, with what could be read
        assert len(store.list_conversations()) == 60
        kept = store.messages(store.list_conversations()[-1].id)
        assert all(m.content.startswith("question") for m in kept)


def test_the_app_opens_its_chats_whatever_state_the_file_is_in(tmp_path: Path) -> None:
    from lmdesk.ui.pages.chat.store_opening import open_chat_store

    path = tmp_path / "chats.sqlite3"
    opened = open_chat_store(path)
    assert opened.problem is None and opened.damaged is None and opened.store.path == path
    opened.store.create_conversation("kept")
    opened.store.close()
    damage(path, 1)  # the first table's page: even listing fails
    before = path.read_bytes()
    opened = open_chat_store(path)  # nothing is done to the file before the person answers
    assert opened.damaged == path and opened.problem is not None and str(path) in opened.problem
    assert path.read_bytes() == before and not list(tmp_path.glob("*.damaged-*"))
    opened.store.create_conversation("meanwhile")  # in memory until then
    assert [c.title for c in opened.store.list_conversations()] == ["meanwhile"]
    opened.store.close()

    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    opened = open_chat_store(blocked / "chats.sqlite3")  # its folder cannot be made
    assert opened.problem is not None and str(blocked / "chats.sqlite3") in opened.problem
    assert "in memory only" in opened.problem and opened.damaged is None
    opened.store.create_conversation("still usable")
    assert [c.title for c in opened.store.list_conversations()] == ["still usable"]
