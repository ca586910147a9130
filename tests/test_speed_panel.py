"""The Load panel's speed (issue 12): the line equals the core's prediction, the chart
draws the core's curve and the stored measurements, the Benchmark button runs off the GUI
thread with Cancel, and Compare cards shows fit()'s layers per card."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from lmdesk.cli.main import main
from lmdesk.core.cpu_threads import threads_for
from lmdesk.core.estimate import GpuTarget, estimate, fit
from lmdesk.core.gguf import ModelInfo, read_model
from lmdesk.core.gpus import WHAT_IF_CARDS
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.speed import cpu_speed, model_work, predict
from lmdesk.core.speed.results import SpeedResults
from lmdesk.core.speed.words import speed_line
from lmdesk.ui.kit.compare_cards import CompareCardsDialog
from lmdesk.ui.kit.offload import OffloadPanel
from lmdesk.ui.kit.offload.speed_view import MEASURING

RTX_4060 = next(c for c in WHAT_IF_CARDS if c.name == "GeForce RTX 4060 8 GB")
MARGIN = 512 * 1024**2


@pytest.fixture(scope="module")
def smol(smollm2_path: Path) -> ModelInfo:
    return read_model(smollm2_path)


@pytest.fixture
def panel(make_panel: Callable[..., OffloadPanel]) -> OffloadPanel:
    return make_panel((380, 900))


def on_card(panel: OffloadPanel, qtbot: QtBot, model: ModelInfo, path: Path, **kw: object) -> None:
    panel.set_model(model, str(path), LoadSettings(**kw))  # type: ignore[arg-type]
    assert panel.controls.gpu.select(RTX_4060.uuid)
    panel.controls.gpu.target_changed.emit()
    qtbot.waitUntil(lambda: panel.speed.prediction() is not None, timeout=30_000)


def core_prediction(model: ModelInfo, settings: LoadSettings):  # type: ignore[no-untyped-def]
    work = model_work(model)
    cpu = cpu_speed(work.main_type, threads_for(settings.n_threads), work.head_dim)
    plan = estimate(model, settings, [GpuTarget(RTX_4060.name)])
    return predict(model, plan, cpu, [RTX_4060])


def test_the_line_shows_the_cores_prediction_on_every_tick(
    panel: OffloadPanel, qtbot: QtBot, smol: ModelInfo, smollm2_path: Path
) -> None:
    panel.set_model(smol, str(smollm2_path), LoadSettings(n_ctx=4096))
    if panel.speed.prediction() is None:  # the CPU is measured first, off the GUI thread
        assert panel.speed.line.text() == MEASURING
    on_card(panel, qtbot, smol, smollm2_path, n_ctx=4096)
    seen = set()
    for layers in (0, 5, 17, 31):
        panel.controls.layers.setValue(layers)
        expected = core_prediction(smol, panel.settings())
        assert panel.settings().n_gpu_layers == layers
        assert panel.speed.prediction() == expected
        assert panel.speed.line.text() == speed_line(expected)
        assert panel.speed.chart.current() == layers
        seen.add(panel.speed.line.text())
    assert len(seen) == 4  # the figure moves with the slider
    # The chart's curve is the core's prediction at every layer count; the limit is fit()'s.
    qtbot.waitUntil(lambda: not panel.speed.curves_pending, timeout=5000)
    curve = panel.speed.chart.curve()
    assert len(curve) == smol.n_layer + 2
    assert (
        curve[17]
        == core_prediction(smol, panel.settings().with_changes(n_gpu_layers=17)).generation_tps
    )
    limit = fit(
        smol,
        panel.settings(),
        gpu_free=RTX_4060.usable_bytes,
        margin=panel._margin,
        gpu_name=RTX_4060.name,
    )
    assert panel.speed.chart.limit() == limit.n_gpu_layers


def test_a_benchmarked_setting_is_drawn_beside_the_prediction(
    panel: OffloadPanel, qtbot: QtBot, smol: ModelInfo, smollm2_path: Path, tmp_path: Path
) -> None:
    out = io.StringIO()
    args = ["bench", str(smollm2_path), "--gpu-layers", "0", "--ctx", "256", "--threads", "1"]
    with redirect_stdout(out):
        assert main([*args, "--repetitions", "1", "--json"]) == 0
    measured = float(__import__("json").loads(out.getvalue())["generation_tps"])
    on_card(panel, qtbot, smol, smollm2_path, n_ctx=256, n_threads=1)
    points = panel.speed.chart.measured()
    assert [layers for layers, _ in points] == [0]
    assert points[0][1] == pytest.approx(measured, abs=0.01)
    image = panel.speed.grab().toImage()
    path = tmp_path / "speed.png"
    assert image.save(str(path))
    assert not QImage(str(path)).isNull()


def test_benchmark_button_runs_off_the_gui_thread_and_cancel_stores_nothing(
    panel: OffloadPanel, qtbot: QtBot, smol: ModelInfo, smollm2_path: Path
) -> None:
    on_card(panel, qtbot, smol, smollm2_path, n_ctx=256, n_threads=1)
    view = panel.speed
    assert view.benchmark_layers() == [0]  # a what-if card: the CPU is what can be measured
    view.bench_button.click()
    assert view.bench_running() and view.cancel_button.isVisible()
    qtbot.waitUntil(lambda: "generating" in view.progress.format(), timeout=60_000)
    panel.controls.layers.setValue(9)  # the panel keeps working meanwhile
    assert view.chart.current() == 9
    with qtbot.waitSignal(view.sig_bench_finished, timeout=60_000) as finished:
        view.cancel_button.click()
    assert finished.args == [0]
    assert "cancelled" in view.bench_status.text()
    assert view.bench_button.isEnabled() and not view.progress.isVisible()
    results = SpeedResults()
    assert results.count() == 0
    results.close()


def test_compare_cards_shows_fits_layers_and_exports(
    qtbot: QtBot, smol: ModelInfo, tmp_path: Path
) -> None:
    settings = LoadSettings(n_ctx=8192)
    dialog = CompareCardsDialog(smol, settings, margin=MARGIN)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: len(dialog.rows()) == len(WHAT_IF_CARDS), timeout=30_000)
    assert not dialog.isModal()
    for row, card in zip(dialog.rows(), WHAT_IF_CARDS, strict=True):
        expected = fit(
            smol, settings, gpu_free=card.usable_bytes, margin=MARGIN, gpu_name=card.name
        )
        assert row.card == card and row.gpu_layers == expected.n_gpu_layers
        shown = dialog.table_model.index(WHAT_IF_CARDS.index(card), 2).data()
        assert shown == f"{expected.n_gpu_layers} of {smol.n_layer + 1}"
    written = dialog.export_csv(tmp_path / "cards.csv")
    table = list(csv.DictReader(written.read_text(encoding="utf-8").splitlines()))
    assert table[0]["card"] == "CPU only"
    assert [int(r["gpu_layers"]) for r in table[1:]] == [r.gpu_layers for r in dialog.rows()]
    picture = dialog.save_png(tmp_path / "cards.png")
    assert QImage(str(picture)).width() == dialog.width()
    dialog.close()


def test_my_models_opens_compare_cards_with_the_real_gpu_first(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> None:
    from hub_server import isolate_hf_home
    from shell_helpers import recorded_probe

    from lmdesk.core.load_plan import default_load_settings
    from lmdesk.core.settings import Settings
    from lmdesk.ui.pages.library.page import LibraryPage
    from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore

    isolate_hf_home(tmp_path, monkeypatch)
    models = tmp_path / "models"
    smol = models / "HuggingFaceTB" / "SmolLM2" / smollm2_path.name
    smol.parent.mkdir(parents=True)
    os.link(smollm2_path, smol)
    store = SettingsStore(Settings(models_dir=str(models)))
    context = AppContext(settings=store, signals=AppSignals())
    context.latest_probe = recorded_probe()()  # NVML stand-in: an RTX 4060 with its bus
    page = LibraryPage(context, scan_options={"lm_studio": []})
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(lambda: page.scanner.scans >= 1 and not page.scanner.busy, timeout=15_000)
    assert not page.compare_button.isEnabled()  # nothing selected
    assert page.select_path(smol)
    assert page.compare_button.isEnabled()
    page.compare_button.click()
    dialog = page.compare_dialog
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    assert dialog.wait_ready()
    qtbot.waitUntil(lambda: len(dialog.rows()) == 1 + len(WHAT_IF_CARDS), timeout=10_000)
    real = dialog.rows()[0]
    assert (
        not real.card.is_what_if and real.card.memory_bandwidth == 128 / 8 * 8501e6 * 2
    )  # bus x clock
    model = read_model(smol)
    settings = default_load_settings(store.settings.load, n_ctx_train=model.n_ctx_train)
    expected = fit(
        model,
        settings,
        gpu_free=real.card.usable_bytes,
        margin=store.settings.gpu_safety_margin_bytes,
        gpu_name=real.card.name,
    )
    assert real.gpu_layers == expected.n_gpu_layers
    dialog.close()
    page.shutdown()
    assert page.wait(20)


def test_a_cpu_that_cannot_be_measured_is_said_once_and_not_measured_on_every_tick(
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
    make_panel: Callable[..., OffloadPanel],
    smol: ModelInfo,
    smollm2_path: Path,
) -> None:
    """The probe's child dying (a stand-in here: the real probe works on this CPU) is told
    on the line, which keeps saying it while the slider moves, and no second child starts."""
    import lmdesk.ui.kit.cpu_rates as rates

    tries = []

    def probe_dies(*_args: object, **_kw: object) -> None:
        tries.append(1)
        raise RuntimeError("the probe's process ended with signal 11")

    monkeypatch.setattr(rates, "_SHARED", None)  # a fresh session's rates
    monkeypatch.setattr(rates, "is_measured", lambda *_args: False)
    monkeypatch.setattr(rates, "cpu_speed", probe_dies)
    widget = make_panel()
    widget.set_model(smol, str(smollm2_path), LoadSettings(n_ctx=4096))
    assert widget.controls.gpu.select(RTX_4060.uuid)
    widget.controls.gpu.target_changed.emit()
    said = (
        "Speed unknown: this CPU could not be measured (the probe's process ended with signal 11)"
    )
    qtbot.waitUntil(lambda: widget.speed.line.text() == said, timeout=10_000)
    for layers in (3, 9, 20):
        widget.controls.layers.setValue(layers)
        assert widget.speed.line.text() == said
    qtbot.wait(100)
    assert len(tries) == 1
    assert rates.cpu_rates().wait(5)
