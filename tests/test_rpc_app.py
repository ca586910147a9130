"""The app over real `lmdesk worker` processes on 127.0.0.1: the Load panel's Target GPU
picker and one bar per device, the chat loading over two workers (the same greedy reply as
a local load), a worker killed mid-reply (a clear error in the chat within 10 s, the partial
reply saved, the app up, a reload without it), bad workers and splits through the model
host, and `lmdesk serve --rpc`. Real widgets offscreen, real SQLite, real llama.cpp."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chat_helpers import SETTINGS, no_dangling_qthreads  # noqa: F401
from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QListView
from pytestqt.qtbot import QtBot
from rpc_peers import free_port, garbage_peer, running_workers, start_worker, stop

from lmdesk.core.chats import ChatStore
from lmdesk.core.engine import EngineError
from lmdesk.core.gguf import read_model
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.settings import ModelLoadSettings, Settings
from lmdesk.ui.kit.offload.gpu_picker import CPU_ONLY, WORKERS, GpuPicker
from lmdesk.ui.kit.offload.panel import OffloadPanel
from lmdesk.ui.pages.chat.page import ChatPage
from lmdesk.ui.pages.hardware.workers import WorkersCard
from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore
from lmdesk.ui.services.worker_feed import WorkerFeed

QUESTION = "What is the capital of France?"
STORY = "Write a long story about a dragon who learns to sing."
SHOTS = Path("/tmp/rpcapp")
SERVE = [sys.executable, "-m", "lmdesk", "serve"]


@pytest.fixture(autouse=True)
def _no_thread_left(no_dangling_qthreads: None) -> Iterator[None]:  # noqa: F811
    yield


@pytest.fixture(scope="module")
def workers() -> Iterator[tuple[str, ...]]:
    with running_workers(2) as endpoints:
        yield endpoints


def make_context(**settings: object) -> AppContext:
    return AppContext(settings=SettingsStore(Settings(**settings)), signals=AppSignals())  # type: ignore[arg-type]


def pick(picker: GpuPicker, key: str) -> None:
    """Choose a target as a person does (the combo's activation)."""
    index = picker.combo.findData(key)
    assert index >= 0, (key, picker.keys())
    picker.combo.setCurrentIndex(index)
    picker.combo.activated.emit(index)


def item_enabled(picker: GpuPicker, index: int) -> bool:
    model = picker.combo.model()
    assert isinstance(model, QStandardItemModel)
    item = model.item(index)
    return item is not None and item.isEnabled()


def show_in_panel(qtbot: QtBot, page: ChatPage, path: Path, workers: int) -> OffloadPanel:
    """The model in the Load panel, once the workers' readings are in."""
    panel = page.models.panel
    page.models.choose_model(str(path))
    qtbot.waitUntil(lambda: panel.model() is not None, timeout=30_000)
    picker = panel.controls.gpu
    qtbot.waitUntil(lambda: len(picker._cards.get(WORKERS, ())) == workers, timeout=60_000)
    return panel


def load_from_panel(qtbot: QtBot, page: ChatPage, key: str, n_gpu_layers: int) -> LoadSettings:
    panel = page.models.panel
    pick(panel.controls.gpu, key)
    panel.controls.set_settings(SETTINGS.with_changes(n_gpu_layers=n_gpu_layers))
    panel._recompute()
    settings = panel.settings()
    with qtbot.waitSignal(page.controller.loaded, timeout=120_000):
        panel.load_button.click()
    return settings


def greedy(page: ChatPage, max_tokens: int) -> None:
    session = page.session
    session.set_sampling(
        session.sampling().with_changes(temperature=0.0, max_tokens=max_tokens, seed=1)
    )
    page.sampling.set_values(session.sampling())


def ask(qtbot: QtBot, page: ChatPage, text: str) -> str:
    with qtbot.waitSignal(page.session.reply_finished, timeout=120_000) as blocker:
        assert page.send(text)
    return str(blocker.args[0].text)


def stored(page: ChatPage) -> list[tuple[str, str, str]]:
    conversation_id = page.session.conversation_id
    assert conversation_id is not None
    with ChatStore(page.store.path, recover=False) as other:
        return [(m.role, m.state, m.content) for m in other.messages(conversation_id)]


# --- the Load panel ----------------------------------------------------------------------


def test_the_load_panel_plans_over_the_reachable_workers_one_bar_each(
    qtbot: QtBot, smollm2_path: Path, workers: tuple[str, str]
) -> None:
    server, garbage = garbage_peer()
    gone = f"127.0.0.1:{free_port()}"
    try:
        store = SettingsStore(Settings(rpc_workers=(*workers, gone, garbage)))
        panel = OffloadPanel(store)
        qtbot.addWidget(panel)
        panel.resize(460, 980)
        panel.show()
        feed = WorkerFeed(store, panel)
        feed.sig_workers.connect(panel.set_workers)
        started = time.monotonic()
        with qtbot.waitSignal(feed.sig_workers, timeout=60_000):
            feed.refresh()
        assert time.monotonic() - started < 30  # four probes, none waits out its timeout
    finally:
        server.close()
    panel.set_model(read_model(smollm2_path), str(smollm2_path))
    picker = panel.controls.gpu
    combo = picker.combo
    label = combo.itemText(combo.findData(WORKERS))
    assert label.startswith("This machine + 2 workers · ") and label.endswith(" free")
    texts = [combo.itemText(i) for i in range(combo.count())]
    reasons = {}
    for endpoint in (gone, garbage):
        index = texts.index(f"{endpoint} · unreachable")
        assert not item_enabled(picker, index)  # shown, but cannot be chosen
        reasons[endpoint] = str(combo.itemData(index, Qt.ItemDataRole.ToolTipRole))
    assert f"no worker answers at {gone}" in reasons[gone]
    assert "is not a llama.cpp RPC worker" in reasons[garbage]
    assert set(picker.unreachable()) == {gone, garbage}

    pick(picker, WORKERS)
    result = panel.auto_fit()
    assert result is not None and result.n_gpu_layers == 31  # the workers have room for all
    settings = panel.settings()
    assert settings.rpc == workers  # the unreachable ones are left out of the load
    plan = panel.current_plan()
    assert [d.name for d in plan.gpus] == [f"RPC0@{w}" for w in workers]
    assert all(d.layers for d in plan.gpus) and all(d.overhead == 0 for d in plan.gpus)
    assert sum(len(d.layers) for d in plan.gpus) == 31
    bars = [bar for bar in panel.view.gpu_bars if bar.isVisible()]
    assert [bar.title() for bar in bars] == [f"Worker {w} · RPC0" for w in workers]
    assert panel.load_button.isEnabled()
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert panel.grab().save(str(SHOTS / "load-panel-workers.png"))
    listing = QListView()  # the combo's list as it drops down (without grabbing input)
    qtbot.addWidget(listing)
    listing.setModel(combo.model())
    listing.resize(460, listing.sizeHintForRow(0) * combo.count() + 8)
    listing.show()
    assert listing.grab().save(str(SHOTS / "gpu-picker-workers.png"))

    pick(picker, CPU_ONLY)  # back to this machine alone: no workers in the settings
    assert panel.settings().rpc == () and not panel.current_plan().gpus


# --- the chat over workers ---------------------------------------------------------------


def test_the_chat_loads_over_two_workers_and_replies_as_a_local_load(
    qtbot: QtBot,
    make_page: Callable[..., ChatPage],
    smollm2_path: Path,
    workers: tuple[str, str],
) -> None:
    page = make_page(make_context(rpc_workers=workers))
    show_in_panel(qtbot, page, smollm2_path, workers=2)
    split = load_from_panel(qtbot, page, WORKERS, n_gpu_layers=21)
    loaded = page.controller.loaded_model
    assert loaded is not None and loaded.report.settings.rpc == workers == split.rpc
    allocated = "\n".join(loaded.report.allocations)
    assert all(f"RPC0[{w}] model buffer size" in allocated for w in workers)
    assert page.models.panel.load_button.text() == "Loaded ✓"
    greedy(page, 24)
    over_workers = ask(qtbot, page, QUESTION)

    load_from_panel(qtbot, page, CPU_ONLY, n_gpu_layers=0)
    loaded = page.controller.loaded_model
    assert loaded is not None and loaded.report.settings.rpc == ()
    page.new_chat()
    greedy(page, 24)
    assert ask(qtbot, page, QUESTION) == over_workers and over_workers.strip()


def test_a_worker_killed_mid_reply_is_a_clear_error_and_a_reload_without_it_works(
    qtbot: QtBot, make_page: Callable[..., ChatPage], smollm2_path: Path
) -> None:
    (first, first_at), (second, second_at) = start_worker(), start_worker()
    try:
        page = make_page(make_context(rpc_workers=(first_at, second_at)))
        show_in_panel(qtbot, page, smollm2_path, workers=2)
        load_from_panel(qtbot, page, WORKERS, n_gpu_layers=21)
        greedy(page, 900)
        killed: list[float] = []

        def kill_after_some_text(_message_id: int, _text: str) -> None:
            if not killed and len(page.messages.widgets()[-1].text()) > 40:
                second.kill()
                killed.append(time.monotonic())

        page.session.reply_text.connect(kill_after_some_text)
        errors: list[str] = []
        page.session.notice.connect(
            lambda level, text: errors.append(text) if level == "error" else None
        )
        assert page.send(STORY)
        qtbot.waitUntil(lambda: bool(errors), timeout=120_000)
        assert killed and time.monotonic() - killed[0] < 10
        (message,) = errors
        assert f"The worker {second_at} went away" in message and first_at not in message
        assert page.banner.isVisible() and page.banner.message == message
        assert page.banner.count == 1  # the chat and the model bar say it once
        role, state, content = stored(page)[-1]
        assert role == "assistant" and len(content) > 40  # the partial reply is on disk
        assert state != "streaming"
        assert page.messages.widgets()[-1].text() == content
        assert page.isVisible() and not page.composer.stop_button.isVisible()  # the app goes on
        assert page.controller.loaded_model is None  # the model went with its process
        SHOTS.mkdir(parents=True, exist_ok=True)
        assert page.grab().save(str(SHOTS / "chat-worker-died.png"))
        assert page.models.panel.load_button.text() != "Loaded ✓"

        # The Hardware page's "Check again" (the same readings as the panel's): the dead
        # worker is greyed out in the picker, and the target keeps the live one.
        card = WorkersCard(page.context.settings, page.context.workers)
        qtbot.addWidget(card)
        assert card.wait()
        with qtbot.waitSignal(page.context.workers.sig_workers, timeout=60_000):
            card.refresh()
        assert "unreachable" in card.rows[second_at].text()
        assert "free of" in card.rows[first_at].text()
        picker = page.models.panel.controls.gpu
        assert second_at in picker.unreachable() and first_at not in picker.unreachable()
        reloaded = load_from_panel(qtbot, page, WORKERS, n_gpu_layers=21)
        assert reloaded.rpc == (first_at,)
        page.new_chat()
        greedy(page, 16)
        assert ask(qtbot, page, QUESTION).strip()
    finally:
        stop(first)
        second.wait(10)


def test_a_model_remembered_over_the_workers_loads_over_them_from_anywhere(
    qtbot: QtBot,
    make_page: Callable[..., ChatPage],
    smollm2_path: Path,
    workers: tuple[str, str],
) -> None:
    remembered = ModelLoadSettings(n_gpu_layers=31, n_ctx=1024, gpu=WORKERS, n_threads=1)
    context = make_context(rpc_workers=workers, models={str(smollm2_path): remembered})
    page = make_page(context)
    with qtbot.waitSignal(page.controller.loaded, timeout=120_000) as blocker:
        context.models.load(str(smollm2_path))  # as My Models' Load does: the one load rule
    settings = blocker.args[0].report.settings
    assert settings.rpc == workers and settings.n_gpu_layers == 31
    panel = page.models.panel  # the panel shows the target it was loaded with
    qtbot.waitUntil(lambda: panel.controls.gpu.current_key() == WORKERS, timeout=60_000)
    assert panel.settings().rpc == workers


# --- bad input through the model host ---------------------------------------------------


def test_a_garbage_worker_and_a_split_longer_than_the_devices_each_fail_with_one_message(
    qtbot: QtBot,
    make_page: Callable[..., ChatPage],
    smollm2_path: Path,
    workers: tuple[str, str],
) -> None:
    page = make_page(make_context())
    host = page.context.models
    server, garbage = garbage_peer()
    try:
        cases = {
            (garbage,): f"{garbage} is not a llama.cpp RPC worker",
            workers: "The tensor split names 3 devices, but there are 2",
        }
        for rpc, expected in cases.items():
            split = (1.0, 1.0, 1.0) if len(rpc) == 2 else None
            settings = SETTINGS.with_changes(n_gpu_layers=10, rpc=rpc, tensor_split=split)
            started = time.monotonic()
            with qtbot.waitSignal(page.controller.load_failed, timeout=60_000) as blocker:
                host.load(str(smollm2_path), settings)
            error = blocker.args[0]
            assert isinstance(error, EngineError) and expected in str(error), str(error)
            assert "\n" not in str(error) and time.monotonic() - started < 30
            assert page.controller.loaded_model is None
    finally:
        server.close()
    with qtbot.waitSignal(page.controller.loaded, timeout=60_000):  # and the app goes on
        host.load(str(smollm2_path), SETTINGS)


# --- lmdesk serve --rpc ------------------------------------------------------------------


def test_serve_over_a_worker_answers_a_chat_request(
    smollm2_path: Path, workers: tuple[str, str]
) -> None:
    import openai
    import psutil

    options = ["--port", "0", "--ctx", "512", "--threads", "1", "--rpc", workers[0], "--json"]
    process = subprocess.Popen(
        [*SERVE, str(smollm2_path), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, process.stderr.read() if process.stderr else ""
        facts = json.loads(line)
        # The model runs in a child of the server (the switch's isolated engine).
        children = psutil.Process(process.pid).children()
        assert any("spawn_main" in " ".join(c.cmdline()) for c in children)
        client = openai.OpenAI(base_url=facts["base_url"], api_key="none", max_retries=0)
        reply = client.chat.completions.create(
            model=facts["model"],
            messages=[{"role": "user", "content": QUESTION}],
            max_tokens=12,
            temperature=0,
        )
        assert reply.choices[0].message.content and reply.usage is not None
        assert 1 <= reply.usage.completion_tokens <= 12
    finally:
        process.kill()
        process.wait(30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    bad = subprocess.run(
        [*SERVE, "--rpc", "127.0.0.1:notaport"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not a port" in bad.stderr
