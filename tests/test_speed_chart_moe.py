"""The speed chart for a mixture-of-experts model (issue 12): beside tok/s against GPU layers,
tok/s against the layers whose experts stay on the CPU, with the current position and the
memory limit, updated by both controls. Real widgets offscreen, a header shaped like
Qwen3-30B-A3B (tests/shaped_models.py), the real estimator and speed model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from lmdesk.core.cpu_threads import threads_for
from lmdesk.core.estimate import Fit, GpuTarget, estimate, judge
from lmdesk.core.gguf import ModelInfo, read_model
from lmdesk.core.gpus import WHAT_IF_CARDS
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.speed import cpu_speed, model_work, predict
from lmdesk.ui.kit.offload import OffloadPanel

RTX_4060 = next(card for card in WHAT_IF_CARDS if card.name == "GeForce RTX 4060 8 GB")


@pytest.fixture
def panel(make_panel: Callable[..., OffloadPanel]) -> OffloadPanel:
    return make_panel((380, 1000))


def expected_curve(model: ModelInfo, settings: LoadSettings) -> list[float | None]:
    work = model_work(model)
    cpu = cpu_speed(work.main_type, threads_for(settings.n_threads), work.head_dim)
    target = [GpuTarget(RTX_4060.name)]
    return [
        predict(
            model, estimate(model, settings.with_changes(n_cpu_moe=n), target), cpu, [RTX_4060]
        ).generation_tps
        for n in range(model.n_layer + 1)
    ]


def test_experts_chart_plots_predict_for_each_n_cpu_moe(
    panel: OffloadPanel, qtbot: QtBot, moe: tuple[ModelInfo, Path]
) -> None:
    model, path = moe
    panel.set_model(model, str(path), LoadSettings(n_ctx=4096, n_gpu_layers=49))
    assert panel.controls.gpu.select(RTX_4060.uuid)
    panel.controls.gpu.target_changed.emit()
    qtbot.waitUntil(lambda: panel.speed.prediction() is not None, timeout=60_000)
    chart = panel.speed.expert_chart
    assert chart.isVisible() and panel.speed.chart.isVisible()
    curves = []
    for layers, experts in ((49, 0), (49, 30), (30, 30), (30, 48)):
        panel.controls.layers.setValue(layers)
        panel.controls.experts.setValue(experts)
        assert panel.speed.curves_pending  # drawn once the sliders rest
        qtbot.waitUntil(lambda: not panel.speed.curves_pending, timeout=5000)
        settings = panel.settings()
        assert (settings.n_gpu_layers, settings.n_cpu_moe) == (layers, experts)
        curve = chart.curve()
        assert len(curve) == model.n_layer + 1
        assert curve == expected_curve(model, settings)
        assert chart.current() == experts
        assert curve[experts] == panel.speed.prediction().generation_tps  # type: ignore[union-attr]
        # The limit: the fewest expert layers on the CPU whose plan fits with the margin.
        target = [GpuTarget(RTX_4060.name)]
        fits = [
            judge(
                estimate(model, settings.with_changes(n_cpu_moe=n), target),
                gpu_free=RTX_4060.usable_bytes,
                margin=panel._margin,
            ).fit
            is Fit.FITS
            for n in range(model.n_layer + 1)
        ]
        assert chart.limit() == fits.index(True)
        curves.append(curve)
    # More experts in RAM: slower; moving the GPU layers moves the experts' curve too.
    assert curves[0][0] > curves[0][48]  # type: ignore[operator]
    assert curves[1] != curves[2]
    assert 0 < chart.limit() <= 48  # type: ignore[operator]  # an 8 GB card: some must move
    image = panel.speed.grab()
    assert image.save("/tmp/speed_chart_moe.png")


def test_a_dense_model_has_no_experts_chart(
    panel: OffloadPanel, qtbot: QtBot, smollm2_path: Path
) -> None:
    panel.set_model(read_model(smollm2_path), str(smollm2_path), LoadSettings(n_ctx=4096))
    assert panel.controls.gpu.select(RTX_4060.uuid)
    panel.controls.gpu.target_changed.emit()
    qtbot.waitUntil(lambda: panel.speed.prediction() is not None, timeout=60_000)
    assert panel.speed.chart.isVisible() and panel.speed.expert_chart.isHidden()
