"""The chat page end to end: real widgets (offscreen), real SQLite, real llama.cpp + SmolLM2.

Every test drives the page as a person would (typing, Enter, Esc, buttons)
and checks three places that must agree: what the view shows, what the
store has on disk, and what the engine reported.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chat_helpers import SETTINGS, no_dangling_qthreads  # noqa: F401
from gguf_factory import write_model
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QMessageBox
from pytestqt.qtbot import QtBot

from lmdesk.core.chats import ChatStore
from lmdesk.core.settings import Settings
from lmdesk.ui.kit.offload.panel import LOAD, LOADED, RELOAD
from lmdesk.ui.pages.chat import create_page
from lmdesk.ui.pages.chat.conversation_list import ConversationListModel
from lmdesk.ui.pages.chat.message_widget import MessageWidget
from lmdesk.ui.pages.chat.page import ChatPage
from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore

STORY = "Write a long story about a dragon who learns to sing."
QUESTION = "What is the capital of France?"
REPLY_TIMEOUT_MS = 120_000


@pytest.fixture(autouse=True)
def _no_thread_left(no_dangling_qthreads: None) -> Iterator[None]:  # noqa: F811
    yield


def make_context(**settings: object) -> AppContext:
    return AppContext(settings=SettingsStore(Settings(**settings)), signals=AppSignals())  # type: ignore[arg-type]


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "chats.sqlite3"


@pytest.fixture
def make_page(qtbot: QtBot, database: Path) -> Iterator[Callable[..., ChatPage]]:
    pages: list[tuple[ChatPage, ChatStore]] = []

    def make(context: AppContext | None = None) -> ChatPage:
        store = ChatStore.open(database)
        page = ChatPage(context or make_context(), store=store)
        qtbot.addWidget(page)
        page.resize(1280, 800)
        page.show()
        pages.append((page, store))
        return page

    yield make
    for page, store in pages:
        page.shutdown()
        page.context.close()  # the context owns the model host and its thread
        store.close()


@pytest.fixture
def page(make_page: Callable[..., ChatPage]) -> ChatPage:
    return make_page()


def load(qtbot: QtBot, page: ChatPage, path: Path, **changes: object) -> None:
    with qtbot.waitSignal(page.controller.loaded, timeout=60_000):
        page.load_model(str(path), SETTINGS.with_changes(**changes))


@pytest.fixture
def loaded_page(qtbot: QtBot, page: ChatPage, smollm2_path: Path) -> ChatPage:
    load(qtbot, page, smollm2_path)
    use_sampling(page, temperature=0.0, max_tokens=40, seed=1)
    return page


def use_sampling(page: ChatPage, **values: object) -> None:
    page.session.set_sampling(page.session.sampling().with_changes(**values))
    page.sampling.set_values(page.session.sampling())


def type_and_send(qtbot: QtBot, page: ChatPage, text: str) -> None:
    page.composer.edit.setFocus()
    page.composer.edit.setPlainText(text)
    QTest.keyClick(page.composer.edit, Qt.Key.Key_Return)


def send_and_wait(qtbot: QtBot, page: ChatPage, text: str) -> object:
    with qtbot.waitSignal(page.session.reply_finished, timeout=REPLY_TIMEOUT_MS) as blocker:
        type_and_send(qtbot, page, text)
    return blocker.args[0]


def last_widget(page: ChatPage) -> MessageWidget:
    return page.messages.widgets()[-1]


def stored(page: ChatPage) -> list[tuple[str, str, str]]:
    """(role, state, content) of the open conversation, read back from disk."""
    conversation_id = page.session.conversation_id
    assert conversation_id is not None
    with ChatStore(page.store.path, recover=False) as other:  # a second connection
        return [(m.role, m.state, m.content) for m in other.messages(conversation_id)]


# --- loading -------------------------------------------------------------------------------------


def test_loading_shows_progress_then_the_model_line(
    qtbot: QtBot, page: ChatPage, smollm2_path: Path
) -> None:
    names: list[object] = []
    page.context.signals.model_changed.connect(names.append)
    assert page.centre_stack.currentWidget() is page.empty  # "Load a model to start chatting"
    assert not page.composer.send_button.isEnabled()
    type_and_send(qtbot, page, "Hello?")  # Enter without a model: told why, draft kept
    assert page.banner.isVisible() and page.banner.message == "Load a model first."
    assert page.composer.text() == "Hello?" and stored(page) == []
    seen: list[tuple[bool, int]] = []
    page.controller.load_progress.connect(
        lambda _f: seen.append(
            (page.model_bar.progress.isVisible(), page.model_bar.progress.value())
        )
    )
    load(qtbot, page, smollm2_path)
    assert seen and all(visible for visible, _ in seen) and seen[-1][1] == 1000
    assert not page.model_bar.progress.isVisible() and page.model_bar.eject_button.isVisible()
    text = page.model_bar.picker.text()
    assert text.startswith("SmolLM2 135M Instruct · Q4_1 · ")
    assert "● loaded · CPU only" in text
    assert names == ["SmolLM2 135M Instruct"]
    assert page.centre_stack.currentWidget() is page.messages
    assert page.composer.send_button.isEnabled()
    assert page.template_banner.isHidden()  # SmolLM2 has its own template
    qtbot.waitUntil(lambda: page.offload.model() is not None, timeout=10_000)  # Load tab shows it


def test_the_page_fits_a_laptop_screen_with_a_model_loaded(
    qtbot: QtBot, loaded_page: ChatPage
) -> None:
    """A 1366 x 768 screen leaves the window about 1230 x 690 (the page under the sidebar and
    status bar about 1150 x 640): the Load panel scrolls rather than make the page taller."""
    qtbot.waitUntil(lambda: loaded_page.offload.model() is not None, timeout=10_000)
    needed = loaded_page.minimumSizeHint()
    assert needed.height() <= 560 and needed.width() <= 1150, needed
    side, panel = loaded_page.tabs, loaded_page.offload
    assert side.minimumSizeHint().width() >= panel.minimumSizeHint().width()  # never cut


def test_eject_unloads_and_says_how_much_ram_came_back(qtbot: QtBot, loaded_page: ChatPage) -> None:
    names: list[object] = []
    loaded_page.context.signals.model_changed.connect(names.append)
    with qtbot.waitSignal(loaded_page.controller.unloaded, timeout=60_000):
        loaded_page.model_bar.eject_button.click()
    assert loaded_page.model_bar.status.text().startswith("Ejected · ")
    assert "of RAM freed" in loaded_page.model_bar.status.text()
    assert names == [None] and not loaded_page.composer.send_button.isEnabled()


def test_the_load_button_says_loaded_until_a_setting_changes_then_reloads(
    qtbot: QtBot, loaded_page: ChatPage
) -> None:
    panel, button = loaded_page.offload, loaded_page.offload.load_button
    qtbot.waitUntil(lambda: panel.model() is not None, timeout=10_000)
    assert (button.text(), button.isEnabled()) == (LOADED, False)  # nothing to do
    panel.controls.ctx.setValue(2048 // 256)
    assert (button.text(), button.isEnabled()) == (RELOAD, True)
    panel.controls.ctx.setValue(SETTINGS.n_ctx // 256)  # back as loaded
    assert (button.text(), button.isEnabled()) == (LOADED, False)
    panel.controls.ctx.setValue(2048 // 256)
    with qtbot.waitSignal(loaded_page.controller.loaded, timeout=60_000) as reloaded:
        button.click()
    assert reloaded.args[0].n_ctx == 2048
    assert (button.text(), button.isEnabled()) == (LOADED, False)
    with qtbot.waitSignal(loaded_page.controller.unloaded, timeout=60_000):
        loaded_page.model_bar.eject_button.click()
    assert (button.text(), button.isEnabled()) == (LOAD, True)


def test_a_file_that_fails_to_load_shows_the_error_and_the_page_stays_usable(
    qtbot: QtBot, page: ChatPage, smollm2_path: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 1000)
    with qtbot.waitSignal(page.controller.load_failed, timeout=60_000) as blocker:
        page.load_model(str(broken), SETTINGS)
    assert page.banner.isVisible() and page.banner.message == str(blocker.args[0])
    assert page.model_bar.picker.text() == "Choose a model to load"
    load(qtbot, page, smollm2_path)
    assert page.banner.isHidden()
    use_sampling(page, temperature=0.0, max_tokens=8, seed=1)
    stats = send_and_wait(qtbot, page, QUESTION)
    assert stats.generated_tokens > 0  # type: ignore[attr-defined]


def test_cancelling_a_load_puts_the_bar_back(
    qtbot: QtBot, page: ChatPage, smollm2_path: Path
) -> None:
    # The slot behind the Cancel button, called from inside the load (worker thread, direct
    # connection) so the cancel lands mid-load; it only sets a threading.Event. Emitting the
    # button's signal from there would queue the call to the GUI thread, after the load.
    page.controller.worker.sig_load_progress.connect(
        lambda _f: page.controller.cancel_load(), Qt.ConnectionType.DirectConnection
    )
    with qtbot.waitSignal(page.controller.load_cancelled, timeout=60_000):
        page.load_model(str(smollm2_path), SETTINGS)
    assert page.model_bar.status.text() == "Load cancelled"
    assert page.model_bar.picker.text() == "Choose a model to load"
    assert not page.model_bar.progress.isVisible() and not page.composer.send_button.isEnabled()


def test_the_welcome_pages_load_request_reaches_the_chat(
    qtbot: QtBot, page: ChatPage, smollm2_path: Path
) -> None:
    with qtbot.waitSignal(page.controller.loaded, timeout=60_000):
        page.context.signals.load_model_requested.emit(str(smollm2_path), SETTINGS)


def test_a_model_without_a_template_says_so_and_offers_one(
    qtbot: QtBot, page: ChatPage, tmp_path: Path
) -> None:
    path = write_model(tmp_path / "tiny-gemma.gguf", arch="gemma")  # a real model, no template
    load(qtbot, page, path, n_ctx=256)
    banner = page.template_banner
    assert banner.isVisible() and "no chat template" in banner.label.text()
    assert "plain completion" in banner.label.text()
    options = [banner.combo.itemText(i) for i in range(banner.combo.count())]
    assert "gemma" in options and "chatml" in options and "gguf" not in options
    # Raw completion until the person picks a format; the guess is suggested, not used.
    assert banner.combo.currentText() == "completion" and "gemma" in banner.note.text()
    use_sampling(page, temperature=0.0, max_tokens=4, seed=1)
    stats = send_and_wait(qtbot, page, "Once upon a time")
    assert stats.prompt_tokens > 0 and stats.generated_tokens <= 4  # it continued the text
    with qtbot.waitSignal(page.controller.template_changed, timeout=30_000) as blocker:
        banner.combo.activated.emit(options.index("chatml"))
    assert blocker.args == ["chatml", ""]


# --- streaming and persistence -------------------------------------------------------------------


def test_a_reply_streams_into_the_view_and_is_stored_as_shown(
    qtbot: QtBot, loaded_page: ChatPage
) -> None:
    page = loaded_page
    rates: list[float] = []
    page.context.signals.token_rate.connect(rates.append)
    lengths: list[int] = []
    committed_first: list[list[tuple[str, str, str]]] = []

    def on_text(_message_id: int, _text: str) -> None:
        if not lengths:
            committed_first.append(stored(page))  # on disk, seen by another connection
        lengths.append(len(last_widget(page).text()))

    page.session.reply_text.connect(on_text)
    stats = send_and_wait(qtbot, page, STORY)
    assert committed_first[0][0] == ("user", "complete", STORY)
    assert committed_first[0][1][:2] == ("assistant", "streaming")
    # Text shows up while the reply streams (drawn at most every 50 ms), and only grows.
    assert len(set(lengths)) >= 3 and lengths == sorted(lengths)
    widget = last_widget(page)
    text = stats.text  # type: ignore[attr-defined]
    assert widget.text() == text and stored(page)[-1] == ("assistant", "complete", text)
    assert page.composer.text() == ""  # the box was emptied once the message was accepted
    line = widget.stats.text()
    assert line.startswith(f"{stats.generated_tokens} tokens · ")  # type: ignore[attr-defined]
    assert " tok/s · first token " in line and line.endswith("stopped: token limit")
    assert widget.regenerate_button.isVisible() and widget.copy_button.isVisible()
    assert rates == [pytest.approx(stats.tokens_per_s)]  # type: ignore[attr-defined]
    # The conversation took its title from the first message.
    assert (
        page.conversations.model.index(0).data()
        == "Write a long story about a dragon who learns to…"
    )
    widget.copy_button.click()
    assert QGuiApplication.clipboard().text() == text


def test_code_blocks_render_apart_with_their_own_copy(qtbot: QtBot, page: ChatPage) -> None:
    conversation = page.store.create_conversation("Code")
    page.store.add_message(conversation.id, "user", "Show me")
    page.store.add_message(
        conversation.id, "assistant", "Here:\n\n```python\nprint('hi')\n```\n\nDone."
    )
    page.conversations.refresh()
    page.open_conversation(conversation.id)
    body = last_widget(page).body
    assert len(body.blocks()) == 3
    (code,) = body.code_blocks()
    assert code.language.text() == "python"
    code.copy_button.click()
    assert QGuiApplication.clipboard().text() == "print('hi')"


def test_stop_mid_stream_keeps_the_partial_reply(qtbot: QtBot, loaded_page: ChatPage) -> None:
    page = loaded_page
    use_sampling(page, max_tokens=400)

    def stop_on_first_text(_message_id: int, _text: str) -> None:
        page.session.reply_text.disconnect(stop_on_first_text)
        assert page.composer.stop_button.isVisible() and not page.composer.send_button.isVisible()
        QTest.keyClick(page.composer.edit, Qt.Key.Key_Escape)  # Esc stops

    page.session.reply_text.connect(stop_on_first_text)
    stats = send_and_wait(qtbot, page, STORY)
    assert stats.stop_reason == "user_stop" and stats.generated_tokens < 100  # type: ignore[attr-defined]
    role, state, content = stored(page)[-1]
    assert (role, state) == ("assistant", "stopped") and content == stats.text != ""  # type: ignore[attr-defined]
    widget = last_widget(page)
    assert widget.text() == content and widget.stats.text().endswith("stopped: by you")
    assert widget.continue_button.isVisible()
    assert page.composer.send_button.isVisible() and not page.composer.stop_button.isVisible()


def test_regenerate_keeps_the_earlier_reply_as_a_version(
    qtbot: QtBot, loaded_page: ChatPage
) -> None:
    page = loaded_page
    send_and_wait(qtbot, page, QUESTION)
    first_id, first_text = last_widget(page).id, last_widget(page).text()
    use_sampling(page, temperature=1.0, seed=7)
    with qtbot.waitSignal(page.session.reply_finished, timeout=REPLY_TIMEOUT_MS) as blocker:
        last_widget(page).regenerate_button.click()
    messages = stored(page)
    assert [m[0] for m in messages] == ["user", "assistant"]
    assert messages[-1][2] == blocker.args[0].text and last_widget(page).id != first_id
    assert page.store.messages(page.session.conversation_id)[-1].id == last_widget(page).id
    widget = last_widget(page)
    assert widget.versions.isVisible() and widget.versions.text() == "2/2"
    widget.previous_button.click()  # ‹ : the first reply is back, nothing was lost
    assert last_widget(page).id == first_id and last_widget(page).text() == first_text
    assert last_widget(page).versions.text() == "1/2"
    assert stored(page)[-1][2] == first_text


def test_edit_and_resend_forks_without_deleting_what_followed(
    qtbot: QtBot, loaded_page: ChatPage
) -> None:
    page = loaded_page
    send_and_wait(qtbot, page, "Name a colour.")
    send_and_wait(qtbot, page, "Name a fruit.")
    before = stored(page)
    first = page.messages.widgets()[0]
    first.edit_button.click()
    assert first.editor.isVisible() and first.editor.toPlainText() == "Name a colour."
    first.editor.setPlainText(QUESTION)
    with qtbot.waitSignal(page.session.reply_finished, timeout=REPLY_TIMEOUT_MS) as blocker:
        first.save_button.click()
    messages = stored(page)
    assert messages == [
        ("user", "complete", QUESTION),
        ("assistant", "complete", blocker.args[0].text),
    ]
    assert [w.text() for w in page.messages.widgets()] == [m[2] for m in messages]
    edited = page.messages.widgets()[0]
    assert edited.versions.text() == "2/2"
    edited.previous_button.click()  # the four messages before the edit are all there
    assert stored(page) == before
    # Fork chat from here: a new chat with the first two messages; the old one untouched.
    old_id = page.session.conversation_id
    page.messages.widgets()[1].fork_button.click()
    assert page.session.conversation_id != old_id
    assert stored(page) == before[:2]
    assert page.session.conversation is not None and "(fork)" in page.session.conversation.title


def test_continue_carries_on_the_last_reply(qtbot: QtBot, loaded_page: ChatPage) -> None:
    page = loaded_page
    use_sampling(page, max_tokens=8)
    send_and_wait(qtbot, page, STORY)
    widget = last_widget(page)
    before = widget.text()
    assert widget.continue_button.isVisible()  # cut short by the token limit
    with qtbot.waitSignal(page.session.reply_finished, timeout=REPLY_TIMEOUT_MS) as blocker:
        widget.continue_button.click()
    (role, state, content) = stored(page)[-1]
    assert role == "assistant" and state == "complete" and len(stored(page)) == 2
    assert content == before + blocker.args[0].text and len(content) > len(before)
    assert last_widget(page) is widget and widget.text() == content


def test_context_gauge_counts_with_the_model(qtbot: QtBot, loaded_page: ChatPage) -> None:
    page = loaded_page
    gauge = page.composer.gauge
    qtbot.waitUntil(lambda: gauge.exact and gauge.total == 1024, timeout=30_000)
    empty = gauge.used
    stats = send_and_wait(qtbot, page, QUESTION)
    qtbot.waitUntil(lambda: gauge.exact, timeout=30_000)
    after_reply = gauge.used
    assert 0 <= after_reply - (stats.prompt_tokens + stats.generated_tokens) <= 8  # type: ignore[attr-defined]
    assert after_reply > empty
    page.composer.edit.setPlainText("word " * 100)
    assert not gauge.exact and gauge.used > after_reply  # an estimate at once
    qtbot.waitUntil(lambda: gauge.exact, timeout=30_000)  # then the model's count
    assert gauge.used > after_reply + 90
    assert gauge.label.text() == f"context {gauge.used:,} / 1,024 tokens"


def test_context_overflow_truncates_the_oldest_messages(
    qtbot: QtBot, loaded_page: ChatPage
) -> None:
    page = loaded_page
    conversation_id = page.session.conversation_id
    long_turn = "The quick brown fox jumps over the lazy dog. " * 30
    for i in range(5):
        page.store.add_message(conversation_id, "user", f"Part {i}: {long_turn}")
        page.store.add_message(conversation_id, "assistant", f"Noted part {i}.{long_turn}")
    page.open_conversation(conversation_id)
    page.session.open(conversation_id)
    use_sampling(page, max_tokens=8)
    stats = send_and_wait(qtbot, page, "Summarise in one word.")
    assert stats.dropped_messages >= 2  # type: ignore[attr-defined]
    assert page.banner.isVisible() and "oldest" in page.banner.message
    assert stored(page)[-1] == ("assistant", "complete", stats.text)  # type: ignore[attr-defined]
    assert len(stored(page)) == 12  # nothing was deleted from the conversation itself


def test_context_overflow_under_the_stop_policy_says_why(
    qtbot: QtBot, make_page: Callable[..., ChatPage], smollm2_path: Path
) -> None:
    page = make_page(make_context(context_policy="stop"))
    load(qtbot, page, smollm2_path)
    use_sampling(page, temperature=0.0, max_tokens=8, seed=1)
    big = "The quick brown fox jumps over the lazy dog. " * 150  # ~1,500 tokens
    with qtbot.waitSignal(page.session.notice, timeout=REPLY_TIMEOUT_MS) as blocker:
        type_and_send(qtbot, page, big)
    level, message = blocker.args
    assert level == "error" and "context holds 1,024" in message
    assert page.banner.isVisible() and page.banner.message == message
    assert stored(page) == [("user", "complete", big)]  # no empty reply left behind
    assert page.composer.send_button.isEnabled() and not page.session.streaming
    # The way out the message offers: shorten it (edit and resend).
    widget = page.messages.widgets()[0]
    widget.edit_button.click()
    widget.editor.setPlainText(QUESTION)
    with qtbot.waitSignal(page.session.reply_finished, timeout=REPLY_TIMEOUT_MS) as done:
        widget.save_button.click()
    assert stored(page) == [
        ("user", "complete", QUESTION),
        ("assistant", "complete", done.args[0].text),
    ]


def test_autoscroll_follows_the_reply_unless_the_person_scrolled_up(
    qtbot: QtBot, loaded_page: ChatPage
) -> None:
    page = loaded_page
    conversation_id = page.session.conversation_id
    for i in range(12):
        page.store.add_message(conversation_id, "user", f"Question {i}?")
        page.store.add_message(conversation_id, "assistant", f"Answer {i}.\n\nMore text. " * 3)
    page.session.open(conversation_id)
    use_sampling(page, max_tokens=120)
    bar = page.messages.verticalScrollBar()
    at_bottom: list[bool] = []
    scrolled_up: list[int] = []

    def on_text(_message_id: int, _text: str) -> None:
        QGuiApplication.processEvents()  # let the layout grow the scroll range
        if len(at_bottom) < 5:
            at_bottom.append(bar.value() == bar.maximum())
            if len(at_bottom) == 5:
                bar.setValue(0)  # the person scrolls up to read
        else:
            scrolled_up.append(bar.value())

    page.session.reply_text.connect(on_text)
    send_and_wait(qtbot, page, "Tell me a story.")
    assert bar.maximum() > 0 and at_bottom == [True] * 5
    assert scrolled_up and set(scrolled_up) == {0} and not page.messages.sticks_to_bottom


def test_enter_sends_shift_enter_adds_a_line(qtbot: QtBot, page: ChatPage) -> None:
    sent: list[str] = []
    page.composer.send_requested.connect(sent.append)
    page.composer.set_can_send(True)
    edit = page.composer.edit
    QTest.keyClicks(edit, "first line")
    QTest.keyClick(edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    QTest.keyClicks(edit, "second line")
    assert sent == [] and edit.toPlainText() == "first line\nsecond line"
    QTest.keyClick(edit, Qt.Key.Key_Return)
    assert sent == ["first line\nsecond line"]


def test_sampling_presets_are_saved_with_the_conversation(qtbot: QtBot, page: ChatPage) -> None:
    from lmdesk.core.engine import PRESETS

    page.tabs.setCurrentWidget(page.sampling)  # the presets are filled when the tab shows
    page.sampling.preset.setCurrentText("Precise")
    conversation = page.store.get_conversation(page.session.conversation_id)
    assert conversation.sampling is not None
    assert conversation.sampling["temperature"] == PRESETS["Precise"].temperature
    assert conversation.sampling["top_k"] == PRESETS["Precise"].top_k
    page.sampling.fields["temperature"].setValue(0.55)
    assert page.sampling.preset.currentText() == "Custom"
    assert page.store.get_conversation(conversation.id).sampling["temperature"] == 0.55  # type: ignore[index]


# --- conversations -------------------------------------------------------------------------------


def test_the_conversation_list_model_is_a_valid_qt_model(
    qtmodeltester: object, page: ChatPage
) -> None:
    for title in ("One", "Two", "Three"):
        page.store.create_conversation(title)
    model = ConversationListModel(page.store)
    model.refresh()
    qtmodeltester.check(model)  # type: ignore[attr-defined]


def test_new_rename_search_and_delete(qtbot: QtBot, page: ChatPage) -> None:
    first = page.session.conversation_id  # a page always has an open conversation
    page.store.add_message(first, "user", "Tell me about volcanoes")
    page.store.rename_conversation(first, "Volcanoes")
    page.new_chat()
    second = page.session.conversation_id
    assert second != first and page.conversations.current_id() == second
    page.new_chat()  # an empty conversation is reused, not piled up
    assert page.session.conversation_id == second
    view, model = page.conversations.view, page.conversations.model
    # Rename: F2 opens the editor on the current row.
    QTest.keyClick(view, Qt.Key.Key_F2)
    assert view.state() == QAbstractItemView.State.EditingState
    editor = view.viewport().findChild(QLineEdit)
    assert editor is not None and editor.text() == "New chat"
    editor.selectAll()
    QTest.keyClicks(editor, "Holiday plans")
    QTest.keyClick(editor, Qt.Key.Key_Return)  # Qt commits the edit from a queued call
    qtbot.waitUntil(lambda: page.store.get_conversation(second).title == "Holiday plans")
    assert model.index(model.row_of(second)).data() == "Holiday plans"
    # Search finds message text as well as titles.
    page.conversations.search.setText("volcano")
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=5_000)
    assert model.index(0).data() == "Volcanoes"
    page.conversations.search.setText("")
    qtbot.waitUntil(lambda: model.rowCount() == 2, timeout=5_000)
    # Delete asks first; Cancel keeps it, Delete removes it.
    page.conversations.select(first)
    box = page.conversations.ask_delete_current()
    assert isinstance(box, QMessageBox) and "Volcanoes" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert page.store.get_conversation(first).title == "Volcanoes"
    box = page.conversations.ask_delete_current()
    with qtbot.waitSignal(page.conversations.delete_confirmed):
        box.button(QMessageBox.StandardButton.Yes).click()  # type: ignore[union-attr]
    assert [c.id for c in page.store.list_conversations()] == [second]
    assert page.session.conversation_id == second


def test_conversations_persist_across_pages(
    qtbot: QtBot, make_page: Callable[..., ChatPage], smollm2_path: Path
) -> None:
    page = make_page()
    load(qtbot, page, smollm2_path)
    use_sampling(page, temperature=0.0, max_tokens=12, seed=1)
    page.system_prompt.edit.setPlainText("Answer briefly.")
    stats = send_and_wait(qtbot, page, QUESTION)
    line = last_widget(page).stats.text()
    page.shutdown()
    again = make_page()
    assert again.session.conversation is not None
    assert again.session.conversation.title == QUESTION
    assert again.session.conversation.system_prompt == "Answer briefly."
    assert again.session.conversation.sampling["max_tokens"] == 12  # type: ignore[index]
    texts = [w.text() for w in again.messages.widgets()]
    assert texts == [QUESTION, stats.text]  # type: ignore[attr-defined]
    assert last_widget(again).stats.text() == line
    assert again.system_prompt.text() == "Answer briefly."


def test_create_page_builds_the_page_on_the_default_store(qtbot: QtBot) -> None:
    page = create_page(make_context())
    qtbot.addWidget(page)
    try:
        assert isinstance(page, ChatPage)
        assert str(page.store.path).startswith(os.environ["LMDESK_HOME"])
    finally:
        page.shutdown()
        page.context.close()


# --- the crash: kill -9 in the middle of a reply -------------------------------------------------


def _read_lines(stream: object, lines: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line.strip())
    lines.put("EXITED")  # the child closed its output: it ended before it was killed


def test_kill_9_mid_reply_loses_nothing_committed(
    qtbot: QtBot, make_page: Callable[..., ChatPage], database: Path, smollm2_path: Path
) -> None:
    child = Path(__file__).with_name("chat_crash_child.py")
    errors = database.with_name("child-stderr.txt")
    process = subprocess.Popen(
        [sys.executable, str(child), str(database), str(smollm2_path)],
        stdout=subprocess.PIPE,
        stderr=errors.open("w"),
        text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    added: list[str] = []
    saved: list[int] = []
    try:
        while len(saved) < 3:
            line = lines.get(timeout=120)
            assert not line.startswith(("FINISHED", "LOAD FAILED", "NOTICE", "EXITED")), (
                f"{line}\n{errors.read_text()}"
            )
            if line.startswith("ADDED"):
                added.append(line.split()[2])
            elif line.startswith("SAVED"):
                saved.append(int(line.split()[2]))
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert added == ["user", "assistant"] and saved == sorted(saved) and saved[-1] > 0

    page = make_page()  # a fresh store and page on the same file: recovery runs on open
    messages = page.store.messages(page.session.conversation_id)
    assert [(m.role, m.state) for m in messages] == [
        ("user", "complete"),
        ("assistant", "interrupted"),
    ]
    assert messages[0].content == "Write a long story about a dragon who learns to sing."
    partial = messages[1].content
    assert len(partial) >= saved[-1] > 0  # everything reported saved is there
    widget = last_widget(page)
    assert widget.text() == partial
    assert widget.badge.isVisible() and widget.badge.text() == "interrupted"
    load(qtbot, page, smollm2_path)
    use_sampling(page, temperature=0.0, max_tokens=8, seed=1)
    assert widget.continue_button.isVisible()
    with qtbot.waitSignal(page.session.reply_finished, timeout=REPLY_TIMEOUT_MS) as blocker:
        widget.continue_button.click()
    final = page.store.get_message(messages[1].id)
    assert final.state == "complete" and final.content == partial + blocker.args[0].text
    assert not widget.badge.isVisible()


def test_kill_9_during_a_regenerated_reply_keeps_both_versions(
    qtbot: QtBot, make_page: Callable[..., ChatPage], database: Path, smollm2_path: Path
) -> None:
    child = Path(__file__).with_name("chat_crash_child.py")
    errors = database.with_name("child-stderr.txt")
    process = subprocess.Popen(
        [sys.executable, str(child), str(database), str(smollm2_path), "regenerate"],
        stdout=subprocess.PIPE,
        stderr=errors.open("w"),
        text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    saved: list[int] = []
    regenerating = False
    try:
        while len(saved) < 3:
            line = lines.get(timeout=120)
            assert not line.startswith(("FINISHED", "LOAD FAILED", "NOTICE", "EXITED")), (
                f"{line}\n{errors.read_text()}"
            )
            regenerating = regenerating or line == "REGENERATING"
            if regenerating and line.startswith("SAVED"):
                saved.append(int(line.split()[2]))
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    page = make_page()  # recovery runs on open
    messages = page.store.messages(page.session.conversation_id)
    assert [(m.role, m.state) for m in messages] == [
        ("user", "complete"),
        ("assistant", "interrupted"),
    ]
    assert len(messages[1].content) >= saved[-1] > 0
    widget = last_widget(page)
    assert widget.versions.text() == "2/2" and widget.text() == messages[1].content
    page.grab().save(str(database.with_name("branches.png")))
    widget.previous_button.click()  # the first, short reply is there too
    first = page.store.messages(page.session.conversation_id)[1]
    assert first.state == "complete" and first.content and first.id != messages[1].id
    assert last_widget(page).versions.text() == "1/2"


def test_a_conversation_exports_to_markdown_and_json(
    qtbot: QtBot, page: ChatPage, tmp_path: Path
) -> None:
    import json

    conversation = page.store.create_conversation("Sky colours")
    page.store.add_message(conversation.id, "user", "What colour is the sky?")
    page.store.add_message(conversation.id, "assistant", "Blue, on a clear day.")
    page.conversations.refresh(select=conversation.id)
    export = page.conversations.export
    assert [a.text() for a in export.actions.values()] == [
        "Export as Markdown…",
        "Export as JSON…",
    ]
    dialog = export.ask("md")
    assert (dialog is not None and not dialog.isModal()) or dialog.isVisible()
    with qtbot.waitSignal(export.exported) as written:
        dialog.fileSelected.emit(str(tmp_path / "sky.md"))  # as if the person chose a file
    markdown = Path(written.args[0]).read_text(encoding="utf-8")
    assert "Sky colours" in markdown and "Blue, on a clear day." in markdown
    dialog.close()
    data = json.loads(export.export_to(conversation.id, tmp_path / "sky.json").read_text())
    assert [m["content"] for m in data["messages"]] == [
        "What colour is the sky?",
        "Blue, on a clear day.",
    ]
    with qtbot.waitSignal(export.failed):
        dialog = export.ask("json")
        assert dialog is not None
        dialog.fileSelected.emit(str(tmp_path / "missing-folder" / "x.json"))
    dialog.close()


def test_an_out_of_memory_load_offers_a_lighter_setting_that_then_loads(
    qtbot: QtBot, page: ChatPage, smollm2_path: Path
) -> None:
    """A context of 2^26 tokens needs a 1.4 TB KV cache: llama.cpp really fails to allocate it.
    The typed error (OutOfMemory) crosses the worker thread, and the banner offers a way out."""
    from lmdesk.core.engine import OutOfMemory

    with qtbot.waitSignal(page.controller.load_failed, timeout=60_000) as failed:
        page.load_model(str(smollm2_path), SETTINGS.with_changes(n_ctx=1 << 26))
    assert isinstance(failed.args[0], OutOfMemory)
    button = page.banner.action_button
    qtbot.waitUntil(button.isVisible, timeout=5000)
    assert button.text() == "Try a context of 8,192 tokens"  # the trained length
    with qtbot.waitSignal(page.controller.loaded, timeout=60_000) as loaded:
        button.click()
    assert loaded.args[0].report.settings.n_ctx == 8192
    assert page.banner.isHidden() and page.offload.settings().n_ctx == 8192
