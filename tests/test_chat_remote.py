"""The chat page with remote engines, real widgets offscreen: a server's models in the
picker under its name, a streamed reply saved like a local one (model "server / id", stats,
export, regenerate), and each failure's message in the banner with the partial reply kept.
Servers: ``lmdesk serve`` and llama-cpp-python's own server, on 127.0.0.1, on SmolLM2."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from remote_servers import RunningServer, free_port, llama_cpp_server, lmdesk_serve

from lmdesk.core.chats.export import to_markdown
from lmdesk.ui.pages.chat.page import ChatPage

TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def desk(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with lmdesk_serve(smollm2_path, key="desk-key", tmp=tmp_path_factory.mktemp("desk")) as s:
        yield s


def _servers(page: ChatPage, *entries: tuple[str, str, str]) -> None:
    servers = tuple({"name": n, "base_url": u, "api_key": k} for n, u, k in entries)
    page.context.settings.update(lambda s: replace(s, remote_servers=servers))


def _listed(qtbot: QtBot, page: ChatPage, server: str) -> list[str] | str:
    """Open the picker's menu (as a click does) and wait for ``server``'s section."""
    bar = page.models.bar
    bar.menu_about_to_show.emit()
    qtbot.waitUntil(lambda: bar.remote().get(server) is not None, timeout=TIMEOUT_MS)
    found = bar.remote()[server]
    assert found is not None
    return found


def _pick(qtbot: QtBot, page: ChatPage, server: str, model_id: str) -> None:
    menu = page.models.bar.menu
    titles = [a.text() for a in menu.actions()]
    at = titles.index(server)  # the section's title, then its models
    action = next(a for a in menu.actions()[at + 1 :] if a.text() == model_id)
    action.trigger()


def _send(qtbot: QtBot, page: ChatPage, text: str) -> None:
    page.composer.edit.setFocus()
    page.composer.edit.setPlainText(text)
    QTest.keyClick(page.composer.edit, Qt.Key.Key_Return)


def _load(qtbot: QtBot, page: ChatPage, server: str, model_id: str) -> None:
    with qtbot.waitSignal(page.controller.loaded, timeout=TIMEOUT_MS):
        _pick(qtbot, page, server, model_id)


# The picker's menu is shown once (to look at it): offscreen Qt cannot grab the keyboard.
@pytest.mark.qt_log_ignore("^This plugin does not support grabbing the keyboard$", extend=True)
def test_a_reply_from_lmdesk_serve_is_saved_like_a_local_one(
    qtbot: QtBot, make_page: Callable[[], ChatPage], desk: RunningServer
) -> None:
    page = make_page()
    _servers(page, ("Desk", desk.base_url, "desk-key"))
    assert _listed(qtbot, page, "Desk") == [desk.model_id]
    _load(qtbot, page, "Desk", desk.model_id)
    label = f"Desk / {desk.model_id}"
    assert page.models.bar.picker.text() == f"{desk.model_id} ● on Desk"
    assert page.models.load_tab.currentWidget() is page.models.remote_note
    assert page.models.remote_note.title.text() == "Runs on Desk"
    page.session.set_sampling(
        page.session.sampling().with_changes(temperature=0.0, max_tokens=12, seed=3)
    )
    pieces: list[str] = []
    page.session.reply_text.connect(lambda _id, text: pieces.append(text))
    with qtbot.waitSignal(page.session.reply_finished, timeout=TIMEOUT_MS) as finished:
        _send(qtbot, page, "Say hello.")
    stats = finished.args[0]
    assert stats.generated_tokens == 12 and stats.stop_reason == "max_tokens"
    assert len(pieces) >= 1 and "".join(pieces).strip()  # it streamed in
    conversation = page.store.get_conversation(page.session.conversation_id)
    assert conversation.model_path == label
    user, reply = page.store.messages(conversation.id)
    assert (user.role, reply.role) == ("user", "assistant") and reply.content == stats.text
    assert reply.state == "complete"
    assert reply.stats is not None and reply.stats.generated_tokens == 12
    assert reply.stats.prompt_tokens == stats.prompt_tokens > 10  # the server's usage
    assert not reply.stats.estimated
    assert page.messages.widgets()[-1].stats.text().startswith("12 tokens · ")
    assert f"- Model: `{label}`" in to_markdown(conversation, [user, reply])
    # A reply cut by its token limit offers Continue for a local model, not for a server's.
    last = page.messages.widgets()[-1]
    assert last.regenerate_button.isVisible() and not last.continue_button.isVisible()
    page.grab().save("/tmp/remote_chat.png")
    menu = page.models.bar.menu
    menu.popup(page.mapToGlobal(page.rect().center()))
    qtbot.waitUntil(menu.isVisible)
    menu.grab().save("/tmp/remote_menu.png")
    menu.hide()
    # Regenerate: a second version from the same server, the first kept.
    with qtbot.waitSignal(page.session.reply_finished, timeout=TIMEOUT_MS):
        assert page.session.regenerate()
    versions = page.session.versions()
    assert list(versions.values()) == [(2, 2)]
    # Stop: the reply ends within a piece, kept, with "user_stop".
    page.session.set_sampling(page.session.sampling().with_changes(max_tokens=300))
    stop_once = page.session.reply_text.connect(lambda _id, _text: page.session.stop())
    with qtbot.waitSignal(page.session.reply_finished, timeout=TIMEOUT_MS) as stopped:
        _send(qtbot, page, "Tell me a long story.")
    page.session.reply_text.disconnect(stop_once)
    assert stopped.args[0].stop_reason == "user_stop" and stopped.args[0].generated_tokens < 300
    assert page.store.messages(conversation.id)[-1].content == stopped.args[0].text
    # Eject: the picker is free again and the Load panel is back.
    with qtbot.waitSignal(page.controller.unloaded, timeout=TIMEOUT_MS):
        page.models.bar.eject_button.click()
    assert page.models.load_tab.currentWidget() is page.models.panel


def test_a_wrong_key_and_an_unreachable_server_say_so(
    qtbot: QtBot, make_page: Callable[[], ChatPage], desk: RunningServer
) -> None:
    page = make_page()
    nowhere = f"http://127.0.0.1:{free_port()}"
    _servers(page, ("Wrong", desk.base_url, "not-the-key"), ("Nowhere", nowhere, ""))
    started = time.monotonic()
    assert "Nowhere cannot be reached" in str(_listed(qtbot, page, "Nowhere"))
    assert time.monotonic() - started < 10
    refused = _listed(qtbot, page, "Wrong")
    assert isinstance(refused, str) and "refused the API key (401)" in refused
    shown = [a.text() for a in page.models.bar.menu.actions() if not a.isEnabled()]
    assert any("refused the API key" in text for text in shown)
    # A model picked while the key was right, then the key changed on the server's side:
    from lmdesk.core.remote_engines import RemoteModel, RemoteServer

    with qtbot.waitSignal(page.controller.load_failed, timeout=TIMEOUT_MS):
        page.models._host.load(
            RemoteModel(RemoteServer.checked("Wrong", desk.base_url, "x"), desk.model_id)
        )
    assert "Wrong refused the API key (401)" in page.banner.message
    assert page.controller.loaded_model is None


def test_a_server_that_dies_mid_reply_keeps_the_partial_reply(
    qtbot: QtBot, make_page: Callable[[], ChatPage], smollm2_path: Path
) -> None:
    page = make_page()
    with llama_cpp_server(smollm2_path) as llama:
        _servers(page, ("Llama", llama.base_url, ""))
        assert _listed(qtbot, page, "Llama") == ["smollm2"]
        _load(qtbot, page, "Llama", "smollm2")
        # Its stream sends no usage: the stats line marks lmdesk's own counts as estimates.
        page.session.set_sampling(page.session.sampling().with_changes(max_tokens=4, seed=1))
        with qtbot.waitSignal(page.session.reply_finished, timeout=TIMEOUT_MS) as finished:
            _send(qtbot, page, "Hi")
        saved = page.store.messages(page.session.conversation_id)[-1].stats
        assert saved is not None and saved.estimated
        n = finished.args[0].answer_tokens
        assert page.messages.widgets()[-1].stats.text().startswith(f"≈ {n} token")
        assert " · ≈ " in page.messages.widgets()[-1].stats.text()  # the rate too
        page.session.set_sampling(
            page.session.sampling().with_changes(temperature=0.0, max_tokens=400, seed=1)
        )

        def kill_once(_id: int, _text: str) -> None:
            llama.kill()

        page.session.reply_text.connect(kill_once)
        started = time.monotonic()
        with qtbot.waitSignal(page.controller.failed, timeout=TIMEOUT_MS):
            _send(qtbot, page, "Tell me a long story about a dragon.")
        page.session.reply_text.disconnect(kill_once)
    assert time.monotonic() - started < 15
    page.grab().save("/tmp/remote_cut.png")
    assert "the text so far is kept" in page.banner.message
    assert "Llama" in page.banner.message
    conversation_id = page.session.conversation_id
    reply = page.store.messages(conversation_id)[-1]
    assert reply.role == "assistant" and reply.content.strip()
    assert reply.state != "complete"
    shown = page.messages.widgets()[-1].text()
    assert reply.content.strip() in shown or shown.strip()


def test_the_remote_model_used_last_is_used_again_at_start(
    qtbot: QtBot,
    make_page: Callable[[], ChatPage],
    desk: RunningServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The chat's last model was Desk's: the next start picks it again (not the starter
    model), through the same door as a file; a server removed from Settings is said so."""
    from lmdesk.core.load_plan import model_to_load_at_start
    from lmdesk.core.remote_engines import servers_from_setting
    from lmdesk.ui.shell import window_state
    from lmdesk.ui.shell.autoload import NO_AUTOLOAD_ENV, AutoLoader

    monkeypatch.delenv(NO_AUTOLOAD_ENV, raising=False)
    page = make_page()
    _servers(page, ("Desk", desk.base_url, "desk-key"))
    label = f"Desk / {desk.model_id}"
    window_state.save_last_model(label)
    with qtbot.waitSignal(page.controller.loaded, timeout=TIMEOUT_MS):
        AutoLoader(page.context, chat_page=lambda: None).load_at_start()
    assert page.models.bar.picker.text() == f"{desk.model_id} ● on Desk"

    servers = servers_from_setting(page.context.settings.settings.remote_servers)
    assert model_to_load_at_start(label, tmp_path, servers) == label
    assert model_to_load_at_start(label, tmp_path, []) is None  # no server, no starter here
    _servers(page)  # Desk is removed from Settings
    with qtbot.waitSignal(page.context.models.plan_failed, timeout=5000) as failed:
        page.context.signals.load_model_requested.emit(label, None)
    assert failed.args == ["The server Desk is no longer in Settings."]
