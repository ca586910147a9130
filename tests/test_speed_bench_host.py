"""The Load panel's Benchmark runs through the app's one owner of the loaded model (issue 12):
a job in the chat's model queue that loads each setting in the chat model's place and loads
it back after, so there is never a second copy in memory, and Cancel restores it too. With
the real starter model; the count of llama.cpp models alive is sampled during the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chat_helpers import no_dangling_qthreads  # noqa: F401
from PySide6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from lmdesk.core.engine.native import models_open
from lmdesk.core.gguf import read_model
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.serving import ModelScheduler
from lmdesk.core.speed.bench_job import BenchJob, BenchOutcome
from lmdesk.core.speed.results import SpeedResults
from lmdesk.ui.kit.offload import OffloadPanel
from lmdesk.ui.pages.server.page import ServerPage
from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore

CHAT = LoadSettings(n_ctx=1024, n_batch=256, n_ubatch=256, n_threads=1)
"""What the chat loaded (one thread: the machine's cores are shared)."""
BENCH = LoadSettings(n_ctx=256, n_threads=1)
"""What the panel shows when Benchmark is pressed: another context than the chat's."""


@pytest.fixture(autouse=True)
def _no_thread_left(no_dangling_qthreads: None) -> Iterator[None]:  # noqa: F811
    yield


def models_alive() -> int:
    """llama.cpp models this process holds now (every load makes a NativeModel). Not read
    from gc.get_objects(): that hands out a tuple another thread is still building, and
    CPython then fails that thread with "bad argument to internal function"."""
    return models_open()


class Watch:
    """Samples the model count and the host's queue every 10 ms while a benchmark runs."""

    def __init__(self, context: AppContext) -> None:
        self.counts: list[int] = []
        self.clients: set[str | None] = set()
        self.chat_paths: set[str | None] = set()
        self._context = context
        self._timer = QTimer()
        self._timer.timeout.connect(self._sample)
        self._timer.start(10)

    def _sample(self) -> None:
        controller = self._context.models.controller
        self.counts.append(models_alive())
        self.clients.add(controller.busy_client)
        loaded = controller.loaded_model
        self.chat_paths.add(None if loaded is None else str(loaded.path))

    def stop(self) -> None:
        self._timer.stop()


@pytest.fixture
def context(tmp_path: Path) -> Iterator[AppContext]:
    context = AppContext(settings=SettingsStore(), signals=AppSignals())
    yield context
    context.close()


@pytest.fixture
def loaded(qtbot: QtBot, context: AppContext, smollm2_path: Path) -> AppContext:
    controller = context.models.controller
    with qtbot.waitSignal(controller.loaded, timeout=60_000):
        context.models.load(str(smollm2_path), CHAT)
    assert models_alive() == 1
    return context


@pytest.fixture
def panel(qtbot: QtBot, loaded: AppContext, smollm2_path: Path) -> Iterator[OffloadPanel]:
    widget = OffloadPanel()
    qtbot.addWidget(widget)
    widget.resize(380, 900)
    widget.speed.use_host(loaded.models)
    widget.set_model(read_model(smollm2_path), str(smollm2_path), BENCH)
    widget.show()
    qtbot.waitUntil(lambda: widget.speed.prediction() is not None, timeout=30_000)
    yield widget
    widget.speed.shutdown()


def engine_holds(context: AppContext) -> tuple[Path, LoadSettings] | None:
    scheduler = context.models.controller.scheduler
    assert scheduler is not None and scheduler.wait_idle(30)
    report = scheduler.engine.report
    return None if report is None else (report.path, report.settings)


def test_benchmark_swaps_the_chats_model_and_loads_it_back(
    qtbot: QtBot, loaded: AppContext, panel: OffloadPanel, smollm2_path: Path
) -> None:
    view = panel.speed
    watch = Watch(loaded)
    server = ServerPage(loaded)  # its "Loaded:" line says whose turn it is on that model
    qtbot.addWidget(server)
    server.show()
    running = f"{smollm2_path.name} (the chat's, running the Load panel's benchmark)"
    with qtbot.waitSignal(view.sig_bench_finished, timeout=180_000) as finished:
        view.bench_button.click()
        qtbot.waitUntil(lambda: "benchmark" in watch.clients, timeout=60_000)
        qtbot.waitUntil(lambda: running in server.serving.text(), timeout=60_000)
    watch.stop()
    assert finished.args == [1], view.bench_status.text()
    assert "done" in view.bench_status.text()
    # One model at most at any moment (the old way held the chat's and the benchmark's: 2),
    # the run was the chat queue's "benchmark" job, and the chat kept its model throughout.
    assert max(watch.counts) == 1 and len(watch.counts) > 10
    assert "benchmark" in watch.clients
    assert watch.chat_paths == {str(smollm2_path)}
    # The chat's model is back, with the chat's settings (not the benchmark's context).
    assert engine_holds(loaded) == (smollm2_path, CHAT)
    assert models_alive() == 1
    results = SpeedResults()
    (stored,) = results.for_model(smollm2_path, view._hardware(), ctx=BENCH.n_ctx)
    results.close()
    assert stored.result.generation_tps > 0 and stored.result.gpu_layers == 0
    assert view.chart.measured() == [(0, stored.result.generation_tps)]


def test_cancel_loads_the_chats_model_back_and_stores_nothing(
    qtbot: QtBot, loaded: AppContext, panel: OffloadPanel, smollm2_path: Path
) -> None:
    view = panel.speed
    watch = Watch(loaded)
    view.bench_button.click()
    qtbot.waitUntil(lambda: "generating" in view.progress.format(), timeout=120_000)
    assert view.grab().save("/tmp/speed_bench_running.png")
    with qtbot.waitSignal(view.sig_bench_finished, timeout=60_000) as finished:
        view.cancel_button.click()
    watch.stop()
    assert finished.args == [0]
    assert "cancelled" in view.bench_status.text()
    assert max(watch.counts) == 1
    assert engine_holds(loaded) == (smollm2_path, CHAT)
    results = SpeedResults()
    assert results.count() == 0
    results.close()


def test_with_nothing_loaded_the_job_leaves_nothing_loaded(smollm2_path: Path) -> None:
    scheduler = ModelScheduler(name="bench")
    scheduler.start_thread()
    seen: list[int] = []
    job = BenchJob(
        smollm2_path,
        BENCH,
        [0],
        repetitions=1,
        generated_tokens=8,
        on_progress=lambda _done, _total, _text: seen.append(models_alive()),
    )
    try:
        outcome = scheduler.submit(job, client="benchmark").wait(120)
    finally:
        scheduler.close()
    assert isinstance(outcome, BenchOutcome)
    assert len(outcome.results) == 1 and not outcome.cancelled and outcome.restored is None
    assert max(seen) == 1 and not scheduler.engine.loaded
    assert models_alive() == 0
