"""The API server inside the app: the Server page starts it, and the chat pane and an API
client take turns on the one loaded model (its queue), with the official openai SDK."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from chat_helpers import SETTINGS, no_dangling_qthreads  # noqa: F401
from openai import OpenAI
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from lmdesk.core.chats import ChatStore
from lmdesk.core.settings import Settings, load_settings
from lmdesk.ui.pages.chat.page import ChatPage
from lmdesk.ui.pages.server.page import ServerPage
from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore


@pytest.fixture(autouse=True)
def _no_thread_left(no_dangling_qthreads: None) -> Iterator[None]:  # noqa: F811
    yield


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def context(tmp_path: Path) -> Iterator[AppContext]:
    base = Settings()
    settings = replace(base, server=replace(base.server, port=free_port()))
    store = SettingsStore(Settings())
    store.save(settings)
    context = AppContext(settings=store, signals=AppSignals())
    yield context
    context.close()


@pytest.fixture
def chat(
    qtbot: QtBot, context: AppContext, tmp_path: Path, smollm2_path: Path
) -> Iterator[ChatPage]:
    store = ChatStore.open(tmp_path / "chats.sqlite3")
    page = ChatPage(context, store=store)
    qtbot.addWidget(page)
    page.show()
    with qtbot.waitSignal(page.controller.loaded, timeout=60_000):
        page.load_model(str(smollm2_path), SETTINGS)
    page.session.set_sampling(
        page.session.sampling().with_changes(temperature=0.0, max_tokens=24, seed=1)
    )
    yield page
    page.shutdown()
    store.close()


def start_from_the_page(qtbot: QtBot, context: AppContext) -> ServerPage:
    server_page = ServerPage(context)
    qtbot.addWidget(server_page)
    server_page.show()
    with qtbot.waitSignal(
        context.api.state_changed, timeout=20_000, check_params_cb=lambda: context.api.running
    ):
        qtbot.mouseClick(server_page.toggle, Qt.MouseButton.LeftButton)
    assert context.api.running, context.api.error
    assert server_page.toggle.text() == "Stop server"
    assert context.api.base_url in server_page.status.text()
    return server_page


def test_the_chat_and_an_api_client_take_turns_on_one_model(
    qtbot: QtBot, context: AppContext, chat: ChatPage, smollm2_path: Path
) -> None:
    server_page = start_from_the_page(qtbot, context)
    pool = context.models.pool
    qtbot.waitUntil(lambda: pool.acquire_loaded(None) is not None, timeout=10_000)
    model_id = smollm2_path.name.removesuffix(".gguf")
    assert model_id in server_page.python.toPlainText()
    marked = chat.models._mark_loaded([("SmolLM2", str(smollm2_path)), ("Other", "/x.gguf")])
    assert marked == [("SmolLM2 · loaded", str(smollm2_path)), ("Other", "/x.gguf")]
    qtbot.waitUntil(lambda: server_page.serving.text().startswith("Loaded: "), timeout=5_000)
    assert f"{smollm2_path.name} (the chat's" in server_page.serving.text()
    assert load_settings().server.run_at_start  # it comes back at the next launch

    api_text: list[str] = []
    api_done = threading.Event()

    def client() -> None:
        sdk = OpenAI(base_url=context.api.base_url, api_key="unused")
        stream = sdk.chat.completions.create(
            model=model_id,
            messages=[{"role": "user", "content": "Tell me a long story about a cat."}],
            max_tokens=80,
            temperature=0,
            stream=True,
        )
        for event in stream:
            if event.choices and event.choices[0].delta.content:
                api_text.append(event.choices[0].delta.content)
        api_done.set()

    thread = threading.Thread(target=client)
    thread.start()
    try:
        # While the API request runs, the chat says so, and a message sent now waits its turn.
        qtbot.waitUntil(chat.api_busy.isVisible, timeout=30_000)
        assert context.models.controller.busy_client == "api"
        with qtbot.waitSignal(chat.session.reply_finished, timeout=120_000) as finished:
            chat.composer.edit.setPlainText("What is the capital of France?")
            QTest.keyClick(chat.composer.edit, Qt.Key.Key_Return)
        assert api_done.is_set()  # the API reply was done before the chat's could start
    finally:
        thread.join(120)
    assert "".join(api_text).strip() and finished.args[0].generated_tokens > 0
    qtbot.waitUntil(lambda: not chat.api_busy.isVisible(), timeout=5_000)
    qtbot.waitUntil(lambda: server_page.log.rowCount() == 1, timeout=5_000)
    assert server_page.log.item(0, 1).text() == "POST /v1/chat/completions"
    assert server_page.log.item(0, 3).text() == "200"
    server_page.resize(1100, 1000)
    shot = Path(__file__).resolve().parents[1] / "docs" / "screenshots" / "server.png"
    assert server_page.grab().save(str(shot))  # the README's picture of the Server page

    with qtbot.waitSignal(context.api.state_changed, timeout=10_000):
        qtbot.mouseClick(server_page.toggle, Qt.MouseButton.LeftButton)
    assert not context.api.running and not load_settings().server.run_at_start


def test_a_lan_server_without_a_key_does_not_start_and_says_why(
    qtbot: QtBot, context: AppContext
) -> None:
    server_page = ServerPage(context)
    qtbot.addWidget(server_page)
    server_page.form.lan.setChecked(True)  # saved at once, through the one settings store
    assert context.settings.settings.server.lan
    with qtbot.waitSignal(
        context.api.state_changed, timeout=10_000, check_params_cb=lambda: not context.api.starting
    ):
        qtbot.mouseClick(server_page.toggle, Qt.MouseButton.LeftButton)
    assert not context.api.running and "API key" in context.api.error
    assert "API key" in server_page.status.text()
    key = server_page.form.make_key()  # "Create a key"
    assert key.startswith("lmdesk-") and context.settings.settings.server.api_key_file
    assert Path(context.settings.settings.server.api_key_file).stat().st_mode & 0o077 == 0
