"""The chat page under faults, as a person meets them: a damaged chats database, a full disk.

Real widgets offscreen, real SQLite, and (for the full disk) the real llama.cpp + SmolLM2;
the disk is filled with SQLite's max_page_count, which answers exactly as a full disk does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chat_helpers import SETTINGS, no_dangling_qthreads  # noqa: F401
from chats_faults_helpers import damaged_database, free_disk, use_up_space
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from lmdesk.core.chats import ChatStore, default_database_path
from lmdesk.core.engine import ReplyStats
from lmdesk.core.settings import Settings
from lmdesk.ui.pages.chat.page import ChatPage
from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore


@pytest.fixture(autouse=True)
def _no_thread_left(no_dangling_qthreads: None) -> Iterator[None]:  # noqa: F811
    yield


@pytest.fixture
def make_page(qtbot: QtBot) -> Iterator[Callable[[], ChatPage]]:
    """The page with the app's own chats database (under this test's LMDESK_HOME)."""
    pages: list[ChatPage] = []

    def make() -> ChatPage:
        context = AppContext(settings=SettingsStore(Settings()), signals=AppSignals())
        page = ChatPage(context)
        qtbot.addWidget(page)
        page.resize(1100, 700)
        page.show()
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.shutdown()
        page.context.close()


def _asked(page: ChatPage, path: Path, before: bytes) -> None:
    """The question is up, the damaged file untouched, and the page works in memory."""
    question = page.damaged_question
    assert question.isVisible() and str(path) in question.text.text()
    assert question.recover_button.text() == "Recover"
    assert question.empty_button.text() == "Start empty"
    assert str(page.store.path) == ":memory:"
    assert path.read_bytes() == before and not list(path.parent.glob("*.damaged-*"))
    meanwhile = page.session.new_conversation()
    page.session.rename(meanwhile.id, "while asked")
    page.store.add_message(meanwhile.id, "user", "typed before answering")
    page.session.open(meanwhile.id)


def _on_disk(path: Path) -> dict[str, list[str]]:
    with ChatStore(path, recover=False) as store:  # a second connection: what the file holds
        return {
            c.title: [m.content for m in store.messages(c.id)] for c in store.list_conversations()
        }


def test_recover_keeps_a_copy_rebuilds_and_keeps_this_sessions_chats(
    make_page: Callable[[], ChatPage],
) -> None:
    path = default_database_path()
    damaged_database(path)
    before = path.read_bytes()
    page = make_page()
    _asked(page, path, before)

    page.damaged_question.recover_button.click()
    assert not page.damaged_question.isVisible()
    (copy,) = path.parent.glob("chats.sqlite3.damaged-????????-??????")
    assert copy.read_bytes() == before
    assert page.store.path == path
    assert "was recovered" in page.banner.message and str(copy) in page.banner.message
    chats = _on_disk(path)
    assert chats["while asked"] == ["typed before answering"]
    assert 50 < len(chats) <= 61 and chats["chat 0"][0].startswith("question 0")
    assert page.session.conversation is not None
    assert page.session.conversation.title == "while asked"  # still the open one
    assert page.conversations.model.rowCount() == len(chats)


def test_start_empty_keeps_the_damaged_file_aside(make_page: Callable[[], ChatPage]) -> None:
    path = default_database_path()
    damaged_database(path)
    before = path.read_bytes()
    page = make_page()
    _asked(page, path, before)

    page.damaged_question.empty_button.click()
    (copy,) = path.parent.glob("chats.sqlite3.damaged-????????-??????")
    assert copy.read_bytes() == before
    assert f"kept as {copy}" in page.banner.message
    assert _on_disk(path) == {"while asked": ["typed before answering"]}
    assert [page.conversations.model.index(0).data()] == ["while asked"]
    page.session.new_conversation()  # and the new file takes new chats
    assert len(_on_disk(path)) == 2


STORY = "Write a long story about a dragon who learns to sing."
QUESTION = "What is the capital of France?"
REPLY_TIMEOUT_MS = 120_000


def _stored(page: ChatPage) -> list[tuple[str, str, str]]:
    """(role, state, content) of the open conversation, as another connection reads the file."""
    conversation_id = page.session.conversation_id
    assert conversation_id is not None
    with ChatStore(page.store.path, recover=False) as other:
        return [(m.role, m.state, m.content) for m in other.messages(conversation_id)]


def _send(qtbot: QtBot, page: ChatPage, text: str) -> ReplyStats:
    with qtbot.waitSignal(page.session.reply_finished, timeout=REPLY_TIMEOUT_MS) as finished:
        page.composer.edit.setFocus()
        page.composer.edit.setPlainText(text)
        QTest.keyClick(page.composer.edit, Qt.Key.Key_Return)
    return finished.args[0]  # type: ignore[no-any-return]


def test_a_full_disk_during_a_reply_through_the_page(
    qtbot: QtBot, tmp_path: Path, smollm2_path: Path
) -> None:
    database = tmp_path / "chats.sqlite3"
    store = ChatStore.open(database)
    context = AppContext(settings=SettingsStore(Settings()), signals=AppSignals())
    page = ChatPage(context, store=store, flush_interval_s=0.0)  # every chunk is saved
    qtbot.addWidget(page)
    page.resize(1100, 700)
    page.show()
    try:
        with qtbot.waitSignal(page.controller.loaded, timeout=60_000):
            page.load_model(str(smollm2_path), SETTINGS)
        sampling = page.session.sampling().with_changes(temperature=0.0, max_tokens=300, seed=1)
        page.session.set_sampling(sampling)
        shown: list[str] = []

        def fill_once(_message_id: int, _text: str) -> None:
            if not shown:
                use_up_space(page.store)  # the disk fills while the reply streams
            shown.append(page.messages.widgets()[-1].text())

        page.session.reply_text.connect(fill_once)
        stats = _send(qtbot, page, STORY)
        page.session.reply_text.disconnect(fill_once)

        # The reply streamed to its end on screen, was closed, and the banner says why it
        # is not saved, naming the file.
        assert len(shown) > 10 and stats.generated_tokens > 100
        assert page.messages.widgets()[-1].text() == stats.text
        assert not page.session.streaming and page.session.can_reply() is None
        assert "full" in page.banner.message and str(database) in page.banner.message
        assert _stored(page)[-1] != ("assistant", "complete", stats.text)

        # While the disk is still full a new message is refused, said, and kept in the box.
        page.composer.edit.setPlainText(QUESTION)
        QTest.keyClick(page.composer.edit, Qt.Key.Key_Return)
        assert page.banner.message.startswith("Your message was not sent: ")
        assert "full" in page.banner.message and page.composer.text() == QUESTION
        assert [m.text() for m in page.messages.widgets()][-1] == stats.text
        (user, reply) = _stored(page)  # the question was not written; the reply only in part
        assert user == ("user", "complete", STORY)
        assert reply[:2] == ("assistant", "streaming") and stats.text.startswith(reply[2])

        free_disk(page.store)  # space returns: the reply kept in memory is saved
        qtbot.waitUntil(
            lambda: _stored(page)[-1] == ("assistant", "complete", stats.text), timeout=30_000
        )
        assert page.banner.message == "The reply kept in memory is now saved."

        page.composer.edit.clear()
        second = _send(qtbot, page, QUESTION)
        assert _stored(page)[-2:] == [
            ("user", "complete", QUESTION),
            ("assistant", "complete", second.text),
        ]
        assert _stored(page)[:2] == [
            ("user", "complete", STORY),
            ("assistant", "complete", stats.text),
        ]
    finally:
        page.shutdown()
        context.close()
        store.close()
