"""The chat page under faults, as a person meets them: a damaged chats database, a full disk.

Real widgets offscreen, real SQLite, and (for the full disk) the real llama.cpp + SmolLM2;
the disk is filled with SQLite's max_page_count, which answers exactly as a full disk does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chat_helpers import no_dangling_qthreads  # noqa: F401
from chats_faults_helpers import damaged_database
from pytestqt.qtbot import QtBot

from lmdesk.core.chats import ChatStore, default_database_path
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
