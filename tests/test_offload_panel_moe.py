"""The Load panel on a mixture-of-experts model: the "Experts on CPU" control and Auto.

Real widgets offscreen, a header shaped like Qwen3-30B-A3B (tests/shaped_models.py), the real
estimator; the bars must show exactly its numbers whichever control moves.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lmdesk.core.estimate import GpuTarget, estimate, fit
from lmdesk.core.gguf import ModelInfo, read_model
from lmdesk.core.gpus import WHAT_IF_CARDS, GpuInfo
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.settings import load_settings
from lmdesk.ui.kit.offload import OffloadPanel

RTX_4060 = next(card for card in WHAT_IF_CARDS if card.name == "GeForce RTX 4060 8 GB")


@pytest.fixture
def panel(make_panel: Callable[..., OffloadPanel]) -> OffloadPanel:
    return make_panel((360, 720))


def _on_card(panel: OffloadPanel, model: ModelInfo, path: Path, settings: LoadSettings) -> None:
    panel.set_model(model, str(path), settings)
    assert panel.controls.gpu.select(RTX_4060.uuid)
    panel.controls.gpu.target_changed.emit()


def _bars_show(panel: OffloadPanel, model: ModelInfo, settings: LoadSettings, gpu: GpuInfo) -> None:
    plan = estimate(model, settings, [GpuTarget(gpu.name)])
    on_gpu, in_ram = panel.view.gpu_bar.segments(), panel.view.ram_bar.segments()
    assert on_gpu["weights"] == plan.gpus[0].weights + plan.gpus[0].repack
    assert on_gpu["compute"] == plan.gpus[0].compute + plan.gpus[0].output
    assert in_ram["weights"] == plan.cpu.weights + plan.cpu.repack
    assert in_ram["compute"] == plan.cpu.compute + plan.cpu.output
    assert panel.current_plan() == plan


def test_a_dense_model_has_no_experts_control(panel: OffloadPanel, smollm2_path: Path) -> None:
    panel.set_model(read_model(smollm2_path), str(smollm2_path), LoadSettings())
    assert panel.controls.experts.isHidden()
    assert panel.settings().n_cpu_moe == 0


def test_either_control_moves_the_bars_by_the_estimators_numbers(
    panel: OffloadPanel, moe: tuple[ModelInfo, Path]
) -> None:
    model, path = moe
    _on_card(panel, model, path, LoadSettings(n_ctx=4096, n_gpu_layers=49))
    assert panel.controls.experts.isVisible()
    assert panel.controls.experts.maximum() == model.n_layer == 48
    weights = []
    for layers, experts in ((49, 0), (49, 24), (49, 48), (30, 48), (30, 10)):
        panel.controls.layers.setValue(layers)
        panel.controls.experts.setValue(experts)
        settings = LoadSettings(n_ctx=4096, n_gpu_layers=layers, n_cpu_moe=experts)
        assert panel.settings() == settings
        assert panel.controls.experts_label.text() == f"{experts} of 48 layers"
        _bars_show(panel, model, settings, RTX_4060)
        weights.append(panel.view.gpu_bar.segments()["weights"])
        if (layers, experts) == (49, 48):
            assert "(the experts of 48 layers in system RAM)" in panel.current_verdict().detail
    assert weights[0] > weights[1] > weights[2]  # each expert layer moved leaves the GPU
    assert weights[4] > weights[3]  # fewer expert layers in RAM: more on the GPU


def test_auto_on_an_8_gb_card_moves_experts_before_dropping_layers(
    panel: OffloadPanel, moe: tuple[ModelInfo, Path]
) -> None:
    model, path = moe
    _on_card(panel, model, path, LoadSettings(n_ctx=4096))
    panel.controls.layers.setValue(10)
    panel.controls.auto.click()
    expected = fit(
        model,
        LoadSettings(n_ctx=4096),
        gpu_free=RTX_4060.usable_bytes,
        margin=load_settings().gpu_safety_margin_bytes,
        gpu_name=RTX_4060.name,
    )
    assert panel.controls.layers.value() == 49  # every layer on the GPU
    assert panel.controls.experts.value() == expected.n_cpu_moe > 0
    text = panel.controls.suggestion.text()
    assert f"Auto: 49 of 49 layers, experts of {expected.n_cpu_moe} layers on the CPU." in text
    assert panel.current_verdict().fit.value in ("fits", "tight")
    _bars_show(panel, model, panel.settings(), RTX_4060)


def test_no_gpu_disables_the_experts_control(
    panel: OffloadPanel, moe: tuple[ModelInfo, Path]
) -> None:
    model, path = moe
    panel.set_model(model, str(path), LoadSettings(n_ctx=4096, n_cpu_moe=12))
    assert panel.controls.gpu.current() is None
    assert not panel.controls.experts.isEnabled()
    assert panel.settings().n_cpu_moe == 0  # nothing on a GPU: no override to load with
    assert panel.current_plan().experts_on_cpu == 0
    assert panel.controls.gpu.select(RTX_4060.uuid)
    panel.controls.gpu.target_changed.emit()
    assert panel.controls.experts.isEnabled() and panel.settings().n_cpu_moe == 12
