"""The inference worker and its controller, with the real llama.cpp and the real SmolLM2.

The worker lives on its own QThread and owns the engine; these tests drive it
only through the controller's methods and wait on its real signals.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from chat_helpers import SETTINGS, dangling_qthreads, no_dangling_qthreads  # noqa: F401
from PySide6.QtCore import QCoreApplication, Qt, QThread
from pytestqt.qtbot import QtBot

from lmdesk.core.engine import SamplingSettings
from lmdesk.core.load_settings import LoadSettings
from lmdesk.ui.services.inference import ChunkBatcher, InferenceController, LoadedModel

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
STORY = [{"role": "user", "content": "Write a long story about a dragon who learns to sing."}]
GREEDY = SamplingSettings(temperature=0, max_tokens=48, seed=1)
LONG = SamplingSettings(temperature=0, max_tokens=400, seed=1)


@pytest.fixture(autouse=True)
def _no_thread_left(no_dangling_qthreads: None) -> Iterator[None]:  # noqa: F811
    yield


@pytest.fixture
def controller(qtbot: QtBot) -> Iterator[InferenceController]:
    c = InferenceController()
    yield c
    assert c.shutdown(timeout_s=30)


@pytest.fixture
def loaded(qtbot: QtBot, controller: InferenceController, smollm2_path: Path) -> LoadedModel:
    with qtbot.waitSignal(controller.loaded, timeout=60_000) as blocker:
        controller.load(str(smollm2_path), SETTINGS)
    model: LoadedModel = blocker.args[0]
    return model


def reply(
    qtbot: QtBot,
    controller: InferenceController,
    messages: list[dict[str, str]],
    sampling: SamplingSettings = GREEDY,
    **kwargs: object,
) -> tuple[int, list[str], object]:
    """Generate and wait for the end; returns (request id, chunks, ReplyStats)."""
    chunks: list[str] = []
    controller.chunk.connect(lambda _i, text: chunks.append(text))
    with qtbot.waitSignal(controller.finished, timeout=120_000) as blocker:
        request_id = controller.generate(messages, sampling, **kwargs)  # type: ignore[arg-type]
    assert blocker.args[0] == request_id
    return request_id, chunks, blocker.args[1]


# --- batching (pure logic; the clock is a list of times) --------------------------------------


def test_batcher_passes_slow_chunks_through_and_holds_fast_ones() -> None:
    times = iter([0.0, 0.005, 0.010, 0.020, 0.100])
    batcher = ChunkBatcher(0.016, clock=lambda: next(times))
    assert batcher.add("a") == "a"  # the first chunk goes out at once (time to first token)
    assert batcher.add("b") == ""  # 5 ms later: held
    assert batcher.add("c") == ""  # 10 ms: held
    assert batcher.add("d") == "bcd"  # 20 ms after the last emission: everything held
    assert batcher.add("e") == "e"  # a slow token goes out alone
    assert batcher.flush() == ""


# --- loading ------------------------------------------------------------------------------------


def test_load_reports_progress_and_the_models_facts(
    qtbot: QtBot, controller: InferenceController, smollm2_path: Path
) -> None:
    progress: list[float] = []
    busy: list[bool] = []
    controller.load_progress.connect(progress.append)
    controller.busy_changed.connect(busy.append)
    with qtbot.waitSignal(controller.loaded, timeout=60_000) as blocker:
        controller.load(str(smollm2_path), SETTINGS)
        assert controller.loading and controller.loading_path == str(smollm2_path)
    model: LoadedModel = blocker.args[0]
    assert progress and progress == sorted(progress) and progress[-1] == 1.0
    assert 0.0 <= progress[0] < 1.0
    assert model.report.n_ctx == 1024 and model.report.n_layer == 30
    assert model.templates[0] == "gguf" and model.has_builtin_template
    assert model.gpu_layers == 0 and model.layer_slots == 31
    assert controller.loaded_model is model and not controller.loading
    assert busy == [True, False]


def test_cancelling_a_load_midway(
    qtbot: QtBot, controller: InferenceController, smollm2_path: Path
) -> None:
    # Cancel from inside the load (a direct connection runs on the worker thread,
    # between two of llama.cpp's progress callbacks), so the cancel is truly mid-load.
    controller.worker.sig_load_progress.connect(
        lambda _f: controller.cancel_load(), Qt.ConnectionType.DirectConnection
    )
    with qtbot.waitSignal(controller.load_cancelled, timeout=60_000):
        controller.load(str(smollm2_path), SETTINGS)
    assert controller.loaded_model is None and not controller.busy


def test_a_broken_file_fails_with_a_readable_message_and_the_worker_goes_on(
    qtbot: QtBot, controller: InferenceController, smollm2_path: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(smollm2_path.read_bytes()[:5_000_000])  # cut short
    with qtbot.waitSignal(controller.load_failed, timeout=60_000) as blocker:
        controller.load(str(broken), SETTINGS)
    message = str(blocker.args[0])
    assert "broken.gguf" in message or "file" in message.lower()
    assert "Traceback" not in message and controller.loaded_model is None
    with qtbot.waitSignal(controller.loaded, timeout=60_000):
        controller.load(str(smollm2_path), SETTINGS)
    _, chunks, stats = reply(qtbot, controller, QUESTION)
    assert "".join(chunks) == stats.text and stats.generated_tokens > 0  # type: ignore[attr-defined]


def test_unload_reports_the_memory_it_gave_back(
    qtbot: QtBot, controller: InferenceController, smollm2_path: Path
) -> None:
    with qtbot.waitSignal(controller.loaded, timeout=60_000):
        controller.load(str(smollm2_path), LoadSettings(n_ctx=256, use_mmap=False, n_threads=1))
    with qtbot.waitSignal(controller.unloaded, timeout=60_000) as blocker:
        controller.unload()
    assert blocker.args[0].freed > 60 * 1024 * 1024  # the weights were read into RAM
    assert controller.loaded_model is None


# --- replies ------------------------------------------------------------------------------------


def test_a_reply_streams_in_chunks_that_add_up_to_its_text(
    qtbot: QtBot, controller: InferenceController, loaded: LoadedModel
) -> None:
    threads: set[object] = set()
    controller.chunk.connect(lambda _i, _t: threads.add(QThread.currentThread()))
    request_id, chunks, stats = reply(qtbot, controller, STORY)
    assert len(chunks) >= 3  # streamed, not delivered at the end
    assert "".join(chunks) == stats.text  # type: ignore[attr-defined]
    assert stats.stop_reason == "max_tokens" and stats.generated_tokens == 48  # type: ignore[attr-defined]
    app_thread = QCoreApplication.instance().thread()  # type: ignore[union-attr]
    assert threads == {app_thread}  # results arrive on the GUI thread
    assert controller.worker.thread() is controller.worker_thread is not app_thread
    assert not controller.generating and controller.current_request is None
    assert request_id >= 1


def test_the_same_greedy_prompt_gives_the_same_reply(
    qtbot: QtBot, controller: InferenceController, loaded: LoadedModel
) -> None:
    _, _, first = reply(qtbot, controller, QUESTION)
    _, _, second = reply(qtbot, controller, QUESTION)
    assert first.text == second.text != ""  # type: ignore[attr-defined]


def test_stop_ends_the_reply_within_a_token(
    qtbot: QtBot, controller: InferenceController, loaded: LoadedModel
) -> None:
    chunks: list[str] = []

    def first_chunk(_request: int, text: str) -> None:
        chunks.append(text)
        controller.stop()  # from the GUI thread, while the worker is busy generating

    controller.chunk.connect(first_chunk)
    with qtbot.waitSignal(controller.finished, timeout=120_000) as blocker:
        controller.generate(STORY, LONG)
    stats = blocker.args[1]
    assert stats.stop_reason == "user_stop"
    # The worker may have produced a few tokens before the queued chunk reached the GUI
    # and Stop was pressed, but nowhere near the 400 asked for.
    assert 1 <= stats.generated_tokens < 100
    assert "".join(chunks) == stats.text


def test_one_reply_at_a_time_and_no_counting_while_busy(
    qtbot: QtBot, controller: InferenceController, loaded: LoadedModel
) -> None:
    with qtbot.waitSignal(controller.finished, timeout=120_000):
        controller.generate(STORY, GREEDY)
        with pytest.raises(RuntimeError, match="already"):
            controller.generate(STORY, GREEDY)
        assert controller.count_tokens(QUESTION) is None


def test_token_counts_agree_with_the_prompt_the_reply_used(
    qtbot: QtBot, controller: InferenceController, loaded: LoadedModel
) -> None:
    _, _, stats = reply(qtbot, controller, QUESTION)
    with qtbot.waitSignal(controller.token_count, timeout=30_000) as blocker:
        request = controller.count_tokens(QUESTION)
    assert blocker.args == [request, stats.prompt_tokens]  # type: ignore[attr-defined]


def test_context_overflow_under_both_policies(
    qtbot: QtBot, controller: InferenceController, loaded: LoadedModel
) -> None:
    # About 1,500 tokens of history: more than the 1,024-token context.
    long_turn = "The quick brown fox jumps over the lazy dog. " * 30
    history: list[dict[str, str]] = []
    for i in range(5):
        history += [
            {"role": "user", "content": f"Part {i}: {long_turn}"},
            {"role": "assistant", "content": f"Noted part {i}: {long_turn}"},
        ]
    history.append({"role": "user", "content": "Summarise in one word."})
    small = SamplingSettings(temperature=0, max_tokens=8, seed=1)
    _, _, stats = reply(qtbot, controller, history, small, policy="truncate_oldest")
    assert stats.dropped_messages >= 2 and stats.prompt_tokens <= 1024 - 8  # type: ignore[attr-defined]
    with qtbot.waitSignal(controller.failed, timeout=60_000) as blocker:
        controller.generate(history, small, policy="stop")
    assert "context" in blocker.args[1] and "1,024" in blocker.args[1]
    assert not controller.generating


def test_shutdown_stops_a_running_reply_and_ends_the_thread(
    qtbot: QtBot, smollm2_path: Path
) -> None:
    controller = InferenceController()
    with qtbot.waitSignal(controller.loaded, timeout=60_000):
        controller.load(str(smollm2_path), SETTINGS)
    with qtbot.waitSignal(controller.chunk, timeout=60_000):
        controller.generate(STORY, LONG)
    assert controller.shutdown(timeout_s=30)
    assert not controller.worker_thread.isRunning()
    assert controller.loaded_model is None and controller.worker._engine is None
    assert controller.scheduler is None
    with pytest.raises(RuntimeError, match="shut down"):
        controller.generate(STORY, GREEDY)


def test_the_thread_guard_notices_a_running_qthread() -> None:
    thread = QThread()
    thread.start()
    try:
        assert any("test_the_thread_guard" in where for where in dangling_qthreads())
    finally:
        thread.quit()
        thread.wait()
    assert dangling_qthreads() == []


def test_building_the_chat_page_does_not_load_llama_cpp() -> None:
    # llama.cpp is imported on the worker thread, so the first paint never waits for it.
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from lmdesk.core.settings import Settings\n"
        "from lmdesk.ui.pages.chat.page import ChatPage\n"
        "from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore\n"
        "from lmdesk.ui.services.inference import InferenceController\n"
        "context = AppContext(settings=SettingsStore(Settings()), signals=AppSignals())\n"
        "page = ChatPage(context, controller=InferenceController(warm_up=False))\n"
        "page.show()\n"
        "app.processEvents()\n"
        "assert 'llama_cpp' not in sys.modules, 'llama.cpp was imported on the GUI thread'\n"
        "page.controller.shutdown()\n"
        "page.shutdown()\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


def test_requests_run_on_one_worker_thread(
    qtbot: QtBot, controller: InferenceController, loaded: LoadedModel
) -> None:
    seen: set[int] = set()
    controller.worker.sig_chunk.connect(
        lambda _i, _t: seen.add(threading.get_ident()), Qt.ConnectionType.DirectConnection
    )
    reply(qtbot, controller, QUESTION)
    assert len(seen) == 1 and threading.get_ident() not in seen
