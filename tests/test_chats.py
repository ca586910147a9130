"""The chat store against real SQLite files, including a child process killed mid-reply."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from lmdesk.core.chats import (
    UNSET,
    ChatDatabaseUnreadableError,
    ChatImportError,
    ChatStore,
    ConversationNotFoundError,
    MessageNotFoundError,
    MessageStats,
    ReplyFinishedError,
    SchemaTooNewError,
)
from lmdesk.core.chats.schema import CURRENT_VERSION

ROOT = Path(__file__).resolve().parents[1]


class FakeClock:
    """A clock the test moves by hand: for flush timing and for row timestamps."""

    def __init__(self, start: float) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def raw(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read through a separate connection: sees only what was really committed."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "chats.sqlite3"


@pytest.fixture
def now() -> FakeClock:
    return FakeClock(1_700_000_000.0)


@pytest.fixture
def store(db_path: Path, now: FakeClock) -> Any:
    with ChatStore(db_path, now=now) as s:
        yield s


# -- conversations -----------------------------------------------------------


def test_conversation_crud(store: ChatStore, now: FakeClock) -> None:
    conv = store.create_conversation("Trip to Lisbon", system_prompt="Be brief.")
    assert conv.title == "Trip to Lisbon"
    assert conv.system_prompt == "Be brief."
    assert conv.created_at == conv.updated_at == now.t
    assert conv.model_path is None and conv.sampling is None
    assert store.get_conversation(conv.id) == conv

    now.advance(5)
    renamed = store.rename_conversation(conv.id, "Lisbon, May")
    assert renamed.title == "Lisbon, May"
    assert renamed.updated_at == now.t and renamed.created_at == conv.created_at

    assert store.delete_conversation(conv.id) is True
    assert store.delete_conversation(conv.id) is False
    with pytest.raises(ConversationNotFoundError):
        store.get_conversation(conv.id)
    with pytest.raises(ConversationNotFoundError):
        store.rename_conversation(conv.id, "gone")
    assert store.list_conversations() == []


def test_update_conversation_changes_only_given_fields(store: ChatStore) -> None:
    conv = store.create_conversation(
        "c", model_path="/m/a.gguf", sampling={"temperature": 0.7, "top_p": 0.9}
    )
    assert conv.sampling == {"temperature": 0.7, "top_p": 0.9}
    updated = store.update_conversation(conv.id, system_prompt="You are terse.")
    assert updated.model_path == "/m/a.gguf"
    assert updated.sampling == {"temperature": 0.7, "top_p": 0.9}
    assert updated.system_prompt == "You are terse."
    cleared = store.update_conversation(conv.id, model_path=None, sampling=UNSET)
    assert cleared.model_path is None
    assert cleared.sampling == {"temperature": 0.7, "top_p": 0.9}


def test_list_orders_by_latest_activity(store: ChatStore, now: FakeClock) -> None:
    a = store.create_conversation("a")
    now.advance(1)
    b = store.create_conversation("b")
    now.advance(1)
    c = store.create_conversation("c")
    assert [x.title for x in store.list_conversations()] == ["c", "b", "a"]

    now.advance(1)
    store.add_message(a.id, "user", "hello again")
    assert [x.title for x in store.list_conversations()] == ["a", "c", "b"]

    now.advance(1)
    store.rename_conversation(b.id, "b2")
    assert [x.title for x in store.list_conversations()] == ["b2", "a", "c"]
    assert store.get_conversation(c.id).updated_at < store.get_conversation(a.id).updated_at


def test_same_timestamp_newest_created_first(db_path: Path) -> None:
    with ChatStore(db_path, now=lambda: 5.0) as store:
        ids = [store.create_conversation(str(i)).id for i in range(3)]
        assert [c.id for c in store.list_conversations()] == ids[::-1]


# -- messages ----------------------------------------------------------------


def test_messages_are_ordered_and_committed_at_once(store: ChatStore, db_path: Path) -> None:
    conv = store.create_conversation("c")
    first = store.add_message(conv.id, "system", "Rules.")
    second = store.add_message(conv.id, "user", "Hi")
    stats = MessageStats(prompt_tokens=12, generated_tokens=3, ttft_s=0.05, stop_reason="eos")
    third = store.add_message(conv.id, "assistant", "Hello!", stats=stats)

    assert [m.position for m in (first, second, third)] == [0, 1, 2]
    assert [m.content for m in store.messages(conv.id)] == ["Rules.", "Hi", "Hello!"]
    assert store.get_message(third.id).stats == stats
    assert third.state == "complete"
    # Committed, not just visible on this connection:
    assert raw(db_path, "SELECT role, content FROM messages ORDER BY position") == [
        ("system", "Rules."),
        ("user", "Hi"),
        ("assistant", "Hello!"),
    ]


def test_add_message_validates(store: ChatStore) -> None:
    conv = store.create_conversation("c")
    with pytest.raises(ValueError, match="begin_reply"):
        store.add_message(conv.id, "assistant", "x", state="streaming")
    with pytest.raises(ValueError, match="role"):
        store.add_message(conv.id, "robot", "x")  # type: ignore[arg-type]
    with pytest.raises(ConversationNotFoundError):
        store.add_message(conv.id + 100, "user", "x")
    with pytest.raises(ConversationNotFoundError):
        store.messages(conv.id + 100)
    assert store.messages(conv.id) == []


def test_deleting_a_conversation_deletes_its_messages(store: ChatStore, db_path: Path) -> None:
    keep = store.create_conversation("keep")
    drop = store.create_conversation("drop")
    store.add_message(keep.id, "user", "k")
    store.add_message(drop.id, "user", "d1")
    store.add_message(drop.id, "assistant", "d2")
    store.delete_conversation(drop.id)
    assert raw(db_path, "SELECT conversation_id, content FROM messages") == [(keep.id, "k")]


def test_regenerate_and_edit_and_resend(store: ChatStore) -> None:
    conv = store.create_conversation("c")
    user1 = store.add_message(conv.id, "user", "What is 2+2?")
    store.add_message(conv.id, "assistant", "5")
    user2 = store.add_message(conv.id, "user", "Are you sure?")
    store.add_message(conv.id, "assistant", "Yes")

    # Regenerate the last answer: drop it, then reply again.
    assert store.delete_messages_after(user2.id) == 1
    writer = store.begin_reply(conv.id)
    writer.append("No, sorry: 4.")
    writer.finish()
    assert [m.content for m in store.messages(conv.id)][-2:] == ["Are you sure?", "No, sorry: 4."]
    assert store.messages(conv.id)[-1].position == user2.position + 1

    # Edit the first question and resend: everything after it goes.
    edited = store.replace_message_content(user1.id, "What is 3+3?")
    assert edited.content == "What is 3+3?" and edited.position == user1.position
    assert store.delete_messages_after(user1.id) == 3
    assert [m.content for m in store.messages(conv.id)] == ["What is 3+3?"]

    with pytest.raises(MessageNotFoundError):
        store.replace_message_content(99_999, "x")
    with pytest.raises(MessageNotFoundError):
        store.delete_messages_after(99_999)


def test_delete_single_message_keeps_order(store: ChatStore) -> None:
    conv = store.create_conversation("c")
    ids = [store.add_message(conv.id, "user", str(i)).id for i in range(3)]
    assert store.delete_message(ids[1]) is True
    assert store.delete_message(ids[1]) is False
    store.add_message(conv.id, "user", "3")
    assert [m.content for m in store.messages(conv.id)] == ["0", "2", "3"]


def test_threads_can_share_the_store(store: ChatStore) -> None:
    conv = store.create_conversation("c")

    def add(prefix: str) -> None:
        for i in range(50):
            store.add_message(conv.id, "user", f"{prefix}{i}")

    threads = [threading.Thread(target=add, args=(p,)) for p in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    messages = store.messages(conv.id)
    assert [m.position for m in messages] == list(range(200))
    assert sorted(m.content for m in messages) == sorted(
        f"{p}{i}" for p in "abcd" for i in range(50)
    )


# -- search ------------------------------------------------------------------


def test_search_titles_and_content(store: ChatStore, now: FakeClock) -> None:
    pasta = store.create_conversation("Pasta recipes")
    store.add_message(pasta.id, "user", "How long do I boil spaghetti?")
    now.advance(1)
    german = store.create_conversation("Deutsch")
    store.add_message(german.id, "user", "Erkläre mir die Umlaute.")
    store.add_message(german.id, "assistant", "Über, schön und grün haben Umlaute. " * 5)
    now.advance(1)
    other = store.create_conversation("Rust lifetimes")
    store.add_message(other.id, "user", "Why does 100% of my code need 'a?")

    hits = store.search("PASTA")
    assert [(h.conversation.id, h.message_id, h.snippet) for h in hits] == [(pasta.id, None, None)]

    [hit] = store.search("spaghetti")
    assert hit.conversation.id == pasta.id
    assert hit.snippet == "How long do I boil spaghetti?"

    # Case folding beyond ASCII, and the first matching message is the one named.
    [hit] = store.search("über")
    assert hit.conversation.id == german.id
    assert hit.message_id == store.messages(german.id)[1].id
    assert hit.snippet is not None and hit.snippet.startswith("Über") and hit.snippet.endswith("…")

    # Wildcards of LIKE are plain characters here.
    assert [h.conversation.id for h in store.search("100%")] == [other.id]
    assert store.search("1_0") == []
    # Most recent first when several match; empty text lists everything.
    assert [h.conversation.id for h in store.search("e")] == [other.id, german.id, pasta.id]
    assert [h.conversation.id for h in store.search("  ")] == [other.id, german.id, pasta.id]


# -- the database file ---------------------------------------------------------


def test_wal_and_durability_settings(store: ChatStore, db_path: Path) -> None:
    store.create_conversation("c")
    assert store.sqlite_settings() == {
        "journal_mode": "wal",
        "synchronous": 1,  # NORMAL
        "foreign_keys": 1,
        "user_version": CURRENT_VERSION,
    }
    # WAL is a property of the file, seen by any other connection too.
    assert raw(db_path, "PRAGMA journal_mode") == [("wal",)]
    assert db_path.with_name(db_path.name + "-wal").exists()


def test_open_uses_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMDESK_HOME", str(tmp_path / "home"))
    with ChatStore.open() as store:
        assert store.path == (tmp_path / "home" / "data" / "chats.sqlite3").resolve()
        store.create_conversation("c")
    assert store.path.is_file()


V1_SCHEMA = """
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    system_prompt TEXT NOT NULL DEFAULT '',
    model_path TEXT
);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content TEXT NOT NULL,
    created_at REAL NOT NULL,
    state TEXT NOT NULL CHECK (
        state IN ('complete', 'streaming', 'interrupted', 'error', 'stopped')),
    UNIQUE (conversation_id, position)
);
INSERT INTO conversations VALUES (7, 'Old chat', 100.0, 200.0, 'Be kind.', '/m/old.gguf');
INSERT INTO messages VALUES (1, 7, 0, 'user', 'Hi from v1', 150.0, 'complete');
INSERT INTO messages VALUES (2, 7, 1, 'assistant', 'Half a rep', 160.0, 'streaming');
PRAGMA user_version = 1;
"""


def test_migrates_a_version_1_database_keeping_its_data(db_path: Path) -> None:
    with closing(sqlite3.connect(db_path)) as conn:
        conn.executescript(V1_SCHEMA)

    with ChatStore(db_path) as store:
        assert store.sqlite_settings()["user_version"] == CURRENT_VERSION
        [conv] = store.list_conversations()
        assert (conv.id, conv.title, conv.created_at, conv.updated_at) == (7, "Old chat", 100, 200)
        assert (conv.system_prompt, conv.model_path, conv.sampling) == (
            "Be kind.",
            "/m/old.gguf",
            None,
        )
        user, reply = store.messages(7)
        assert (user.content, user.state, user.stats) == ("Hi from v1", "complete", None)
        # The v1 app died mid-reply: recovery runs on the migrated data too.
        assert (reply.content, reply.state) == ("Half a rep", "interrupted")
        # The new columns work.
        store.update_conversation(7, sampling={"temperature": 0.2})
        added = store.add_message(7, "assistant", "ok", stats=MessageStats(generated_tokens=1))
        assert added.position == 2 and added.stats == MessageStats(generated_tokens=1)

    backup = db_path.with_name("chats.sqlite3.v1.bak")
    assert raw(backup, "PRAGMA user_version") == [(1,)]
    assert raw(backup, "SELECT content FROM messages ORDER BY id") == [
        ("Hi from v1",),
        ("Half a rep",),
    ]


def test_newer_database_is_refused_and_left_untouched(db_path: Path) -> None:
    with ChatStore(db_path) as store:
        store.create_conversation("from the future")
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute(f"PRAGMA user_version = {CURRENT_VERSION + 1}")
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()

    with pytest.raises(SchemaTooNewError, match="newer version of lmdesk") as info:
        ChatStore(db_path)
    assert (info.value.found, info.value.supported) == (CURRENT_VERSION + 1, CURRENT_VERSION)
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before


def test_files_that_are_not_a_chats_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not SQLite at all, just some text " * 100)
    with pytest.raises(ChatDatabaseUnreadableError):
        ChatStore(junk)

    foreign = tmp_path / "foreign.sqlite3"
    with closing(sqlite3.connect(foreign)) as conn:
        conn.execute("CREATE TABLE bookmarks (url TEXT)")
    with pytest.raises(ChatDatabaseUnreadableError, match="not lmdesk's"):
        ChatStore(foreign)
    assert raw(foreign, "SELECT name FROM sqlite_master") == [("bookmarks",)]


# -- streaming replies -----------------------------------------------------------


def test_reply_writer_saves_once_the_interval_has_passed(tmp_path: Path) -> None:
    clock = FakeClock(50.0)
    path = tmp_path / "chats.sqlite3"
    with ChatStore(path, clock=clock, flush_interval_s=0.5) as store:
        conv = store.create_conversation("c")
        writer = store.begin_reply(conv.id)

        def saved() -> tuple[str, str]:
            [(content, state)] = raw(
                path, "SELECT content, state FROM messages WHERE id = ?", (writer.message_id,)
            )
            return content, state

        assert saved() == ("", "streaming")
        assert writer.append("Once ") is False
        clock.advance(0.25)
        assert writer.append("upon ") is False
        assert saved() == ("", "streaming")
        clock.advance(0.25)  # 0.5 s since the reply began
        assert writer.append("a ") is True
        assert saved() == ("Once upon a ", "streaming")
        assert writer.flush_count == 1

        clock.advance(0.25)
        assert writer.append("time") is False
        assert saved() == ("Once upon a ", "streaming")
        clock.advance(1.0)
        assert writer.flush_if_due() is True  # a caller's timer, no new chunk
        assert saved() == ("Once upon a time", "streaming")
        clock.advance(1.0)
        assert writer.flush_if_due() is False  # nothing new to save
        assert writer.flush_count == 2

        stats = MessageStats(
            prompt_tokens=20, generated_tokens=4, ttft_s=0.12, tokens_per_s=31.5, stop_reason="eos"
        )
        final = writer.finish("complete", stats=stats)
        assert final is not None
        assert (final.content, final.state, final.stats) == ("Once upon a time", "complete", stats)
        assert saved() == ("Once upon a time", "complete")
        assert writer.finish() == final  # idempotent
        with pytest.raises(ReplyFinishedError):
            writer.append("more")
        with pytest.raises(ValueError):
            store.begin_reply(conv.id).finish("streaming")


def test_reply_writer_with_block_records_errors(store: ChatStore) -> None:
    conv = store.create_conversation("c")
    with pytest.raises(RuntimeError), store.begin_reply(conv.id) as writer:
        writer.append("partial")
        raise RuntimeError("llama.cpp failed")
    message = store.get_message(writer.message_id)
    assert (message.content, message.state) == ("partial", "error")


def test_reply_to_a_deleted_conversation_finishes_quietly(store: ChatStore) -> None:
    conv = store.create_conversation("c")
    writer = store.begin_reply(conv.id, flush_interval_s=0)
    writer.append("a")
    store.delete_conversation(conv.id)
    writer.append("b")
    assert writer.finish("stopped") is None


def test_unfinished_reply_becomes_interrupted_on_next_open(db_path: Path) -> None:
    store = ChatStore(db_path, flush_interval_s=0)
    conv = store.create_conversation("c")
    store.add_message(conv.id, "user", "Q")
    writer = store.begin_reply(conv.id)
    writer.append("saved part")  # interval 0: saved at once
    store.close()  # as if the process died: no finish()

    with ChatStore(db_path, recover=False) as looking:
        assert looking.messages(conv.id)[-1].state == "streaming"
    with ChatStore(db_path) as reopened:
        reply = reopened.messages(conv.id)[-1]
        assert (reply.content, reply.state) == ("saved part", "interrupted")
        assert reopened.recover_interrupted() == 0


def test_continue_resumes_with_the_stores_own_flush_interval_and_clock(db_path: Path) -> None:
    clock = FakeClock(0.0)
    store = ChatStore(db_path, flush_interval_s=5.0, clock=clock)
    conv = store.create_conversation("c")
    first = store.begin_reply(conv.id)
    first.append("Once upon")
    first.finish("stopped")

    writer = store.resume_reply(first.message_id)
    assert store.get_message(first.message_id).state == "streaming"  # a crash now: interrupted
    assert writer.text == "Once upon"
    assert writer.append(" a time") is False  # the store's 5 s have not passed on its clock
    clock.advance(5.0)
    assert writer.append(",") is True
    store.close()  # killed during Continue: no finish()

    with ChatStore(db_path) as reopened:
        reply = reopened.get_message(first.message_id)
        assert (reply.content, reply.state) == ("Once upon a time,", "interrupted")


def test_a_replys_stats_read_the_same_in_the_chat_and_the_export() -> None:
    stats = MessageStats(
        generated_tokens=1_234, tokens_per_s=23.6, ttft_s=0.314, stop_reason="max_tokens"
    )
    assert stats.summary() == "1,234 tokens · 24 tok/s · first token 0.31 s · stopped: token limit"
    assert MessageStats(generated_tokens=1, stop_reason="later_reason").summary() == (
        "1 token · stopped: later_reason"  # a reason this version does not know: as stored
    )
    assert MessageStats().summary() == ""


KILLED_CHILD = r"""
import sys, time
from pathlib import Path
from lmdesk.core.chats import ChatStore

store = ChatStore(Path(sys.argv[1]), flush_interval_s=0.05)
conv = store.create_conversation("kill -9 test")
store.add_message(conv.id, "user", "Tell me a very long story.")
writer = store.begin_reply(conv.id)
print("READY", conv.id, writer.message_id, flush=True)
deadline = time.monotonic() + 60
i = 0
while time.monotonic() < deadline:
    if writer.append(f"chunk{i} "):
        print("FLUSHED", i + 1, flush=True)
    i += 1
    time.sleep(0.002)
sys.exit(3)  # never finishes on purpose; reaching this means nobody killed it
"""


@pytest.mark.timeout(120)
def test_reply_survives_kill_9(db_path: Path, tmp_path: Path) -> None:
    stderr_path = tmp_path / "child.stderr"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with stderr_path.open("w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_CHILD, str(db_path)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=ROOT,
            env=env,
        )
    try:
        assert child.stdout is not None
        ready = child.stdout.readline().split()
        assert ready[:1] == ["READY"], stderr_path.read_text()
        conversation_id, reply_id = int(ready[1]), int(ready[2])
        flushed_chunks: list[int] = []
        while len(flushed_chunks) < 2:
            line = child.stdout.readline()
            assert line, f"child ended early: {stderr_path.read_text()}"
            flushed_chunks.append(int(line.split()[1]))
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()

    # Before recovery the row is exactly as the dead process left it.
    with ChatStore(db_path, recover=False) as store:
        user, reply = store.messages(conversation_id)
        assert (user.role, user.content, user.state) == (
            "user",
            "Tell me a very long story.",
            "complete",
        )
        assert (reply.id, reply.role, reply.state) == (reply_id, "assistant", "streaming")
        saved_chunks = reply.content.count("chunk")
        # At least what the child reported saved, and exactly its chunks in order.
        assert saved_chunks >= flushed_chunks[-1]
        assert reply.content == "".join(f"chunk{i} " for i in range(saved_chunks))

    with ChatStore(db_path) as store:
        reply = store.get_message(reply_id)
        assert reply.state == "interrupted"
        assert reply.content.count("chunk") == saved_chunks


# -- export and import ---------------------------------------------------------


def _sample_conversation(store: ChatStore) -> int:
    conv = store.create_conversation(
        "Haiku help",
        system_prompt="You write haiku.",
        model_path="/m/smol.gguf",
        sampling={"temperature": 0.8},
    )
    store.add_message(conv.id, "user", "A haiku about rain, please.")
    store.add_message(
        conv.id,
        "assistant",
        "Soft rain on the roof\nthe kettle begins to sing\nnobody hurries",
        stats=MessageStats(
            prompt_tokens=31, generated_tokens=18, ttft_s=0.21, tokens_per_s=42.0, stop_reason="eos"
        ),
    )
    store.add_message(conv.id, "user", "Another?")
    writer = store.begin_reply(conv.id)
    writer.append("Grey clouds")
    writer.finish("stopped", stats=MessageStats(generated_tokens=2, stop_reason="user_stop"))
    return conv.id


def test_export_markdown(store: ChatStore, now: FakeClock) -> None:
    conv_id = _sample_conversation(store)
    assert store.export_markdown(conv_id) == (
        "# Haiku help\n"
        "\n"
        "- Created: 2023-11-14 22:13 UTC\n"
        "- Model: `/m/smol.gguf`\n"
        "\n"
        "## System prompt\n\nYou write haiku.\n\n"
        "## User\n\nA haiku about rain, please.\n\n"
        "## Assistant\n\nSoft rain on the roof\nthe kettle begins to sing\nnobody hurries\n\n"
        "*18 tokens · 42 tok/s · first token 0.21 s · stopped: end of text*\n\n"
        "## User\n\nAnother?\n\n"
        "## Assistant\n\nGrey clouds\n\n"
        "*2 tokens · stopped: by you*\n"
    )


def test_export_json_round_trips(store: ChatStore, now: FakeClock) -> None:
    conv_id = _sample_conversation(store)
    exported = store.export_json(conv_id)
    assert exported["format"] == "lmdesk.conversation"
    assert exported["conversation"]["title"] == "Haiku help"
    assert [m["state"] for m in exported["messages"]] == ["complete"] * 3 + ["stopped"]
    assert exported["messages"][1]["stats"]["tokens_per_s"] == 42.0

    now.advance(100)
    copy = store.import_json(exported)
    assert copy.id != conv_id
    original = store.get_conversation(conv_id)
    assert (copy.title, copy.created_at, copy.updated_at, copy.sampling) == (
        original.title,
        original.created_at,
        original.updated_at,
        {"temperature": 0.8},
    )

    def essence(conversation_id: int) -> list[tuple[Any, ...]]:
        return [
            (m.role, m.content, m.created_at, m.state, m.stats, m.position)
            for m in store.messages(conversation_id)
        ]

    assert essence(copy.id) == essence(conv_id)
    assert store.export_json(copy.id) == exported


def test_import_rejects_what_it_cannot_read(store: ChatStore) -> None:
    with pytest.raises(ChatImportError, match="not an lmdesk"):
        store.import_json({"hello": "world"})
    with pytest.raises(ChatImportError, match="newer"):
        store.import_json({"format": "lmdesk.conversation", "version": 99})
    with pytest.raises(ChatImportError, match="malformed"):
        store.import_json(
            {
                "format": "lmdesk.conversation",
                "version": 1,
                "conversation": {"title": "t", "created_at": 1, "updated_at": 1},
                "messages": [{"role": "wizard", "content": "x", "created_at": 1}],
            }
        )
    assert store.list_conversations() == []
