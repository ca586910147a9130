"""The GPU offload panel: real widgets (offscreen), the real SmolLM2 header, the real estimator.

Every expected number is computed here from `lmdesk.core.estimate` for the
same settings, independently of the panel's own wiring, so a panel that shows
stale or mixed-up numbers fails. SmolLM2 needs ~0.7 GiB on a GPU with every
layer at 8k context, so small custom what-if cards make it fit, fit tightly
or not fit. NVML is a stand-in (tests/nvml_standin.py replaying recorded
readings) because this machine has no NVIDIA GPU; llama.cpp's build info and
psutil are real.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from nvml_standin import NvmlStandIn
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QHelpEvent, QImage
from PySide6.QtWidgets import QApplication, QScrollArea, QToolTip
from pytestqt.qtbot import QtBot

from lmdesk.core.cpu_threads import default_threads
from lmdesk.core.estimate import DEFAULT_MARGIN, Fit, GpuTarget, estimate, fit, judge
from lmdesk.core.gguf import ModelInfo, read_model
from lmdesk.core.gpus import (
    NO_DRIVER,
    WHAT_IF_CARDS,
    GpuInfo,
    cuda_install_command,
    custom_card,
    llama_build_info,
    probe_gpus,
    system_memory,
)
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.settings import ModelLoadSettings, Settings, load_settings, save_settings
from lmdesk.core.units import GiB, MiB
from lmdesk.ui.kit.offload import MemoryBar, OffloadPanel
from lmdesk.ui.kit.offload.gpu_picker import CUSTOM
from lmdesk.ui.kit.theme import VERDICT_COLORS
from lmdesk.ui.services.gpu_feed import GpuFeed

RTX_4060 = next(card for card in WHAT_IF_CARDS if card.name == "GeForce RTX 4060 8 GB")


@pytest.fixture(scope="module")
def smol(smollm2_path: Path) -> ModelInfo:
    return read_model(smollm2_path)


@pytest.fixture
def panel(make_panel: Callable[..., OffloadPanel]) -> OffloadPanel:
    return make_panel((360, 720))


def settle(qtbot: QtBot) -> None:
    """Let posted layout and paint events run (a few rounds: layouts nest)."""
    for _ in range(3):
        qtbot.wait(1)


def available(gpu: GpuInfo) -> int:
    return gpu.total_bytes - gpu.used_by_others_bytes


def expected_gpu_segments(model: ModelInfo, settings: LoadSettings, gpu: GpuInfo) -> dict[str, int]:
    plan = estimate(model, settings, [GpuTarget(gpu.name)]).gpus[0]
    used = gpu.used_by_others_bytes + plan.total
    return {
        "others": gpu.used_by_others_bytes,
        "weights": plan.weights + plan.repack,
        "kv_cache": plan.kv_cache,
        "compute": plan.compute + plan.output,
        "overhead": plan.overhead,
        "free": max(0, gpu.total_bytes - used),
    }


def use_smol(panel: OffloadPanel, smol: ModelInfo, path: Path, card: GpuInfo, **settings: object):
    panel.set_model(smol, str(path), LoadSettings(**settings))  # type: ignore[arg-type]
    if card.uuid.startswith("what-if:custom-"):
        panel.controls.gpu.add_custom(card.total_bytes)
    else:
        assert panel.controls.gpu.select(card.uuid)
        panel.controls.gpu.target_changed.emit()


# -- empty state and basics -------------------------------------------------------------


def test_without_a_model_the_panel_says_what_to_do(panel: OffloadPanel) -> None:
    assert panel.empty.isVisible()
    assert panel.empty.text() == "Choose a model to see how much of it fits your GPU"
    assert not panel.controls.isVisible()
    assert not panel.load_button.isEnabled()
    with pytest.raises(RuntimeError):
        panel.current_plan()


def test_model_set_shows_its_layers_and_context(
    panel: OffloadPanel, smol: ModelInfo, smollm2_path: Path
) -> None:
    panel.set_model(smol, str(smollm2_path), LoadSettings(n_gpu_layers=-1, n_ctx=8192))
    assert panel.controls.isVisible() and not panel.empty.isVisible()
    assert panel.controls.layers.maximum() == smol.n_layer + 1 == 31
    assert panel.controls.layers_label.text() == "0 of 31 layers"  # no GPU chosen: the CPU
    assert panel.controls.ctx_label.text() == "8,192 (max 8,192)"
    assert "SmolLM2-135M-Instruct" in panel.caption.toolTip()
    assert panel.current_verdict().fit is Fit.CPU_ONLY


# -- the slider drives the bars ---------------------------------------------------------


def test_every_slider_position_shows_the_estimators_plan(
    panel: OffloadPanel, smol: ModelInfo, smollm2_path: Path, qtbot: QtBot
) -> None:
    use_smol(panel, smol, smollm2_path, RTX_4060, n_ctx=8192)
    memory = system_memory()
    for layers in (0, 1, 7, 30, 31):
        panel.controls.layers.setValue(layers)
        settings = LoadSettings(n_gpu_layers=layers, n_ctx=8192)
        assert panel.settings() == settings
        assert panel.view.gpu_bar.segments() == expected_gpu_segments(smol, settings, RTX_4060)
        assert panel.view.gpu_bar.total() == RTX_4060.total_bytes
        cpu = estimate(smol, settings, [GpuTarget(RTX_4060.name)]).cpu
        ram = panel.view.ram_bar.segments()
        assert ram["weights"] == cpu.weights + cpu.repack
        assert ram["kv_cache"] == cpu.kv_cache
        assert ram["compute"] == cpu.compute + cpu.output
        assert panel.view.ram_bar.total() == memory.total_bytes
        assert 0 <= ram["others"] < memory.total_bytes
        assert panel.controls.layers_label.text() == f"{layers} of 31 layers"
    # A key press moves the slider the way a person does.
    panel.controls.layers.setFocus()
    qtbot.keyClick(panel.controls.layers, Qt.Key.Key_Left)
    assert panel.current_plan().n_gpu_layers == 30
    assert panel.view.gpu_bar.segments() == expected_gpu_segments(
        smol, LoadSettings(n_gpu_layers=30, n_ctx=8192), RTX_4060
    )


def test_a_slider_move_emits_the_new_settings(
    panel: OffloadPanel, smol: ModelInfo, smollm2_path: Path, qtbot: QtBot
) -> None:
    use_smol(panel, smol, smollm2_path, RTX_4060, n_ctx=4096)
    with qtbot.waitSignal(panel.settings_changed) as changed:
        panel.controls.layers.setValue(12)
    assert changed.args == [LoadSettings(n_gpu_layers=12, n_ctx=4096)]
    with qtbot.waitSignal(panel.settings_changed) as changed:
        panel.controls.ctx.setValue(2048 // 256)
    assert changed.args == [LoadSettings(n_gpu_layers=12, n_ctx=2048)]
    assert panel.controls.ctx_label.text() == "2,048 (max 8,192)"


def test_load_button_requests_the_shown_settings(
    panel: OffloadPanel, smol: ModelInfo, smollm2_path: Path, qtbot: QtBot
) -> None:
    use_smol(panel, smol, smollm2_path, RTX_4060, n_ctx=2048)
    panel.controls.layers.setValue(20)
    with qtbot.waitSignal(panel.load_requested) as load:
        qtbot.mouseClick(panel.load_button, Qt.MouseButton.LeftButton)
    assert load.args == [str(smollm2_path), LoadSettings(n_gpu_layers=20, n_ctx=2048)]


# -- Auto -------------------------------------------------------------------------------


@pytest.mark.parametrize(("card_gib", "ctx"), [(1.0, 2048), (1.0, 8192), (1.3, 8192), (0.7, 2048)])
def test_auto_picks_exactly_what_fit_computes(
    panel: OffloadPanel, smol: ModelInfo, smollm2_path: Path, card_gib: float, ctx: int
) -> None:
    panel.set_margin(GiB // 4)
    card = custom_card(int(card_gib * GiB))
    use_smol(panel, smol, smollm2_path, card, n_ctx=ctx)
    panel.controls.layers.setValue(17)
    panel.controls.auto.click()
    expected = fit(
        smol,
        LoadSettings(n_gpu_layers=17, n_ctx=ctx),
        gpu_free=available(card),
        margin=GiB // 4,
        gpu_name=card.name,
    )
    assert panel.controls.layers.value() == expected.n_gpu_layers
    assert panel.settings().n_gpu_layers == expected.n_gpu_layers
    assert panel.current_verdict().fit in (Fit.FITS, Fit.CPU_ONLY)
    suggestion = panel.controls.suggestion.text()
    assert suggestion.startswith(f"Auto: {expected.n_gpu_layers} of 31 layers fit.")
    if expected.max_full_offload_ctx:
        assert f"{expected.max_full_offload_ctx:,}" in suggestion
    else:
        assert "No context length lets the whole model fit" in suggestion


def test_auto_offers_the_longest_full_offload_context(
    panel: OffloadPanel, smol: ModelInfo, smollm2_path: Path
) -> None:
    panel.set_margin(64 * MiB)
    card = custom_card(int(0.3 * GiB) + 640 * MiB)  # 640 MiB free
    use_smol(panel, smol, smollm2_path, card, n_ctx=8192)
    result = panel.auto_fit()
    assert result is not None and not result.full_offload
    best = result.max_full_offload_ctx
    assert 0 < best < 8192
    assert f"Full offload up to {best:,} tokens of context" in panel.controls.suggestion.text()
    panel.controls.suggestion.linkActivated.emit("apply")  # what a click on the link does
    assert panel.settings() == LoadSettings(n_gpu_layers=31, n_ctx=best)
    assert panel.current_verdict().fit is Fit.FITS
    # Applied: the line stays, without the link.
    assert "href" not in panel.controls.suggestion.text()
    # Another card makes the suggestion stale: it goes.
    panel.controls.gpu.add_custom(2 * GiB)
    assert panel.controls.suggestion.isHidden()


def test_a_new_model_on_a_gpu_starts_at_auto(
    panel: OffloadPanel, smol: ModelInfo, smollm2_path: Path
) -> None:
    panel.set_margin(GiB // 4)
    panel.controls.gpu.add_custom(GiB)
    panel.set_model(smol, str(smollm2_path))  # nothing remembered, no settings given
    defaults = load_settings().load
    expected = fit(
        smol,
        LoadSettings(n_ctx=defaults.n_ctx),
        gpu_free=available(custom_card(GiB)),
        margin=GiB // 4,
        gpu_name=custom_card(GiB).name,
    )
    assert panel.settings().n_gpu_layers == expected.n_gpu_layers
    assert panel.settings().n_ctx == defaults.n_ctx


# -- verdicts ---------------------------------------------------------------------------


def test_changing_the_card_changes_the_verdict(
    panel: OffloadPanel, smol: ModelInfo, smollm2_path: Path, qtbot: QtBot
) -> None:
    """Chosen through the inline "Custom size…" row, as a person would."""
    panel.set_margin(GiB // 4)
    panel.set_model(smol, str(smollm2_path), LoadSettings(n_gpu_layers=-1, n_ctx=8192))
    picker = panel.controls.gpu
    seen = []
    for size_gib in (1.3, 1.0, 0.7):
        picker.combo.setCurrentIndex(picker.combo.findData(CUSTOM))
        picker.combo.activated.emit(picker.combo.currentIndex())
        assert picker.custom_row.isVisible()
        picker.custom_size.setValue(size_gib)
        with qtbot.waitSignal(panel.settings_changed):
            qtbot.mouseClick(picker.custom_use, Qt.MouseButton.LeftButton)
        card = custom_card(round(size_gib * GiB))
        assert panel.controls.gpu.current() == card
        settings = LoadSettings(n_gpu_layers=31, n_ctx=8192)
        plan = estimate(smol, settings, [GpuTarget(card.name)])
        verdict = judge(plan, gpu_free=available(card), margin=GiB // 4)
        assert panel.current_verdict() == verdict
        assert panel.view.verdict.headline.text() == verdict.headline
        assert panel.view.verdict.color() == VERDICT_COLORS[verdict.fit.value]
        seen.append(verdict.fit)
    assert seen == [Fit.FITS, Fit.TIGHT, Fit.NO_FIT]
    bar = panel.view.gpu_bar
    assert bar.over() > 0 and bar.free() == 0
    assert bar.summary().endswith("over")


def test_changing_the_context_changes_the_verdict(
    panel: OffloadPanel, smol: ModelInfo, smollm2_path: Path
) -> None:
    panel.set_margin(64 * MiB)
    card = custom_card(int(0.3 * GiB) + 640 * MiB)
    use_smol(panel, smol, smollm2_path, card, n_gpu_layers=31, n_ctx=2048)
    seen = []
    for ctx in (2048, 4096, 8192):
        panel.controls.ctx.setValue(ctx // 256)
        plan = estimate(smol, LoadSettings(n_gpu_layers=31, n_ctx=ctx), [GpuTarget(card.name)])
        assert panel.current_plan() == plan
        seen.append(panel.current_verdict().fit)
    assert seen == [Fit.FITS, Fit.TIGHT, Fit.NO_FIT]


def test_the_margin_comes_from_the_settings(
    qtbot: QtBot, smol: ModelInfo, smollm2_path: Path
) -> None:
    save_settings(Settings(gpu_safety_margin_bytes=GiB // 2))
    panel = OffloadPanel()
    qtbot.addWidget(panel)
    use_smol(panel, smol, smollm2_path, custom_card(GiB + GiB // 2), n_gpu_layers=31, n_ctx=8192)
    plan = panel.current_plan()
    card = custom_card(GiB + GiB // 2)
    assert panel.current_verdict() == judge(plan, gpu_free=available(card), margin=GiB // 2)
    assert panel.current_verdict() != judge(plan, gpu_free=available(card), margin=DEFAULT_MARGIN)


# -- KV cache and flash attention -------------------------------------------------------


def test_a_quantized_kv_cache_turns_flash_attention_on(
    panel: OffloadPanel, smol: ModelInfo, smollm2_path: Path
) -> None:
    use_smol(panel, smol, smollm2_path, RTX_4060, n_gpu_layers=31, n_ctx=8192, flash_attn=False)
    f16_kv = panel.current_plan().gpus[0].kv_cache
    panel.controls.kv.setCurrentText("q8_0")
    assert panel.controls.flash.checkState() == Qt.CheckState.Checked
    settings = panel.settings()
    assert (settings.type_k, settings.type_v, settings.flash_attn) == ("q8_0", "q8_0", True)
    assert panel.controls.note.isVisible() and "needs it" in panel.controls.note.text()
    assert (
        panel.current_plan().gpus[0].kv_cache
        == estimate(smol, settings, [GpuTarget(RTX_4060.name)]).gpus[0].kv_cache
        < f16_kv
    )
    # Turning flash attention off again puts the cache back to f16 instead of failing.
    panel.controls.flash.setCheckState(Qt.CheckState.Unchecked)
    settings = panel.settings()
    assert (settings.type_v, settings.flash_attn) == ("f16", False)
    assert "back to f16" in panel.controls.note.text()


def test_flash_attention_auto_is_shown_and_kept(
    panel: OffloadPanel, smol: ModelInfo, smollm2_path: Path
) -> None:
    use_smol(panel, smol, smollm2_path, RTX_4060, flash_attn=None)
    assert panel.controls.flash.text() == "Flash attention (auto)"
    panel.controls.kv.setCurrentText("q4_0")
    assert panel.settings().flash_attn is None  # auto allows a quantized cache
    panel.controls.flash.setCheckState(Qt.CheckState.Checked)
    assert panel.controls.flash.text() == "Flash attention"


# -- remembered per model ---------------------------------------------------------------


def test_settings_are_remembered_per_model(
    qtbot: QtBot, smol: ModelInfo, smollm2_path: Path
) -> None:
    first = OffloadPanel()
    qtbot.addWidget(first)
    path = str(smollm2_path)
    use_smol(first, smol, smollm2_path, RTX_4060, n_ctx=8192)
    first.controls.layers.setValue(12)
    first.controls.ctx.setValue(4096 // 256)
    first.controls.kv.setCurrentText("q8_0")
    assert load_settings().remembered(path) is None  # debounced: not written yet
    qtbot.waitUntil(lambda: load_settings().remembered(path) is not None, timeout=3000)
    assert load_settings().remembered(path) == ModelLoadSettings(
        n_gpu_layers=12, n_ctx=4096, kv_type="q8_0", flash_attn="auto", gpu=RTX_4060.uuid
    )
    second = OffloadPanel()
    qtbot.addWidget(second)
    second.set_model(smol, path)
    assert second.settings() == LoadSettings(
        n_gpu_layers=12, n_ctx=4096, type_k="q8_0", type_v="q8_0", flash_attn=None
    )
    assert second.controls.gpu.current() == RTX_4060


def test_a_change_just_before_the_panel_closes_is_kept(
    qtbot: QtBot, smol: ModelInfo, smollm2_path: Path
) -> None:
    panel = OffloadPanel()
    qtbot.addWidget(panel)
    use_smol(panel, smol, smollm2_path, RTX_4060, n_ctx=8192)
    panel.controls.layers.setValue(7)
    path = str(smollm2_path)
    assert load_settings().remembered(path) is None  # within the save delay
    panel.close()
    kept = load_settings().remembered(path)
    assert kept is not None and kept.n_gpu_layers == 7 and kept.gpu == RTX_4060.uuid


def test_cpu_threads_show_auto_with_the_cores_default(
    panel: OffloadPanel, smol: ModelInfo, smollm2_path: Path
) -> None:
    panel.set_model(smol, str(smollm2_path), LoadSettings(n_ctx=2048))
    auto = default_threads()
    assert panel.controls.threads.text() == f"Auto ({auto.generation})"
    assert f"Auto uses {auto.generation} for writing" in panel.controls.threads.toolTip()
    assert panel.settings().n_threads is None
    panel.set_model(smol, str(smollm2_path), LoadSettings(n_ctx=2048, n_threads=1))
    assert panel.controls.threads.text() == "1"
    # More threads than the machine has CPUs (remembered elsewhere) are capped at its CPUs.
    assert panel.controls.threads.maximum() == os.cpu_count()
    panel.set_model(smol, str(smollm2_path), LoadSettings(n_ctx=2048, n_threads=4096))
    assert panel.settings().n_threads == os.cpu_count()


def test_chosen_cpu_threads_reach_the_load_request(
    panel: OffloadPanel, smol: ModelInfo, smollm2_path: Path, qtbot: QtBot
) -> None:
    panel.set_model(smol, str(smollm2_path), LoadSettings(n_ctx=2048))
    with qtbot.waitSignal(panel.settings_changed) as changed:
        panel.controls.threads.setFocus()
        qtbot.keyClick(panel.controls.threads, Qt.Key.Key_Up)  # Auto -> 1, as a person would
    assert changed.args == [LoadSettings(n_ctx=2048, n_threads=1)]
    with qtbot.waitSignal(panel.load_requested) as load:
        qtbot.mouseClick(panel.load_button, Qt.MouseButton.LeftButton)
    assert load.args == [str(smollm2_path), LoadSettings(n_ctx=2048, n_threads=1)]
    panel.controls.threads.setValue(0)
    assert panel.settings() == LoadSettings(n_ctx=2048)  # back to Auto


def test_cpu_threads_are_remembered_per_model(
    qtbot: QtBot, smol: ModelInfo, smollm2_path: Path
) -> None:
    first = OffloadPanel()
    qtbot.addWidget(first)
    path = str(smollm2_path)
    first.set_model(smol, path, LoadSettings(n_ctx=2048))
    first.controls.threads.setValue(1)
    qtbot.waitUntil(lambda: load_settings().remembered(path) is not None, timeout=3000)
    assert load_settings().remembered(path) == ModelLoadSettings(n_ctx=2048, n_threads=1)
    second = OffloadPanel()
    qtbot.addWidget(second)
    second.set_model(smol, path)
    assert second.settings().n_threads == 1
    assert second.controls.threads.text() == "1"


def test_a_remembered_custom_card_comes_back(
    qtbot: QtBot, smol: ModelInfo, smollm2_path: Path
) -> None:
    first = OffloadPanel()
    qtbot.addWidget(first)
    use_smol(first, smol, smollm2_path, custom_card(3 * GiB), n_gpu_layers=9)
    first.controls.layers.setValue(10)
    first.save_now()
    second = OffloadPanel()
    qtbot.addWidget(second)
    second.set_model(smol, str(smollm2_path))
    assert second.controls.gpu.current() == custom_card(3 * GiB)
    assert second.settings().n_gpu_layers == 10


# -- detected GPUs (NVML stand-in) and the llama.cpp build ---------------------------------


def test_detected_gpus_come_first_and_a_refresh_keeps_the_choice(
    panel: OffloadPanel, smol: ModelInfo, smollm2_path: Path
) -> None:
    probe = probe_gpus(NvmlStandIn.from_fixture("two_gpus_rtx3090_rtx3060"), own_pid=1)
    panel.set_gpus(probe)
    panel.set_model(smol, str(smollm2_path), LoadSettings(n_gpu_layers=-1, n_ctx=8192))
    picker = panel.controls.gpu
    assert picker.keys()[:2] == [gpu.uuid for gpu in probe.gpus]
    assert picker.combo.itemText(0).startswith("GeForce RTX 3090 · ")
    assert picker.current() == probe.gpus[0]
    assert "None · CPU only" not in [picker.combo.itemText(i) for i in range(picker.combo.count())]
    rtx3060 = probe.gpus[1]
    assert picker.select(rtx3060.uuid)
    picker.target_changed.emit()
    settings = LoadSettings(n_gpu_layers=31, n_ctx=8192)
    assert panel.view.gpu_bar.segments() == expected_gpu_segments(smol, settings, rtx3060)
    # Fresh readings: another program took 2 GiB on the 3060. The choice stays, the bar moves.
    busier = dataclasses.replace(
        rtx3060,
        free_bytes=rtx3060.free_bytes - 2 * GiB,
        used_by_others_bytes=rtx3060.used_by_others_bytes + 2 * GiB,
    )
    panel.set_gpus(dataclasses.replace(probe, gpus=(probe.gpus[0], busier)))
    assert picker.current() == busier
    assert panel.view.gpu_bar.segments() == expected_gpu_segments(smol, settings, busier)
    assert panel.current_verdict().spare == available(busier) - panel.current_plan().gpu_total
    # A real card that cannot take it: the button says what loading would risk.
    assert panel.load_button.text() == "Load model"
    panel.controls.ctx.setValue(8192 // 256)
    squeezed = dataclasses.replace(busier, used_by_others_bytes=busier.total_bytes - 100 * MiB)
    panel.set_gpus(dataclasses.replace(probe, gpus=(probe.gpus[0], squeezed)))
    assert panel.current_verdict().fit is Fit.NO_FIT
    assert panel.load_button.text() == "Load anyway (may run out of GPU memory)"


def test_without_a_gpu_the_panel_explains_and_offers_what_if_cards(
    panel: OffloadPanel, smol: ModelInfo, smollm2_path: Path
) -> None:
    panel.set_gpus(probe_gpus(NvmlStandIn.from_fixture("error_library_not_found")))
    panel.set_model(smol, str(smollm2_path), LoadSettings(n_gpu_layers=-1))
    notice = panel.view.no_gpu
    assert notice.isVisible() and not panel.view.gpu_bar.isVisible()
    assert notice.text() == (f"No NVIDIA GPU found ({NO_DRIVER}) — choose a what-if card to plan.")
    assert not panel.controls.layers.isEnabled() and not panel.controls.auto.isEnabled()
    assert panel.current_verdict().fit is Fit.CPU_ONLY
    assert panel.settings().n_gpu_layers == 0
    assert panel.controls.layers.value() == 0
    assert panel.controls.layers_label.text() == "0 of 31 layers"
    assert panel.controls.gpu.select(RTX_4060.uuid)
    panel.controls.gpu.target_changed.emit()
    assert panel.view.gpu_bar.isVisible() and not notice.isVisible()
    assert panel.controls.layers.isEnabled()
    assert panel.settings().n_gpu_layers == 31  # the layers asked for come back with a GPU


def test_cuda_hint_when_the_gpu_would_sit_idle(
    panel: OffloadPanel, smol: ModelInfo, smollm2_path: Path
) -> None:
    build = llama_build_info()  # the real one: this machine's llama.cpp has no CUDA
    assert not build.has_cuda
    panel.set_model(smol, str(smollm2_path))
    panel.set_llama_build(build)
    panel.set_gpus(probe_gpus(NvmlStandIn.from_fixture("one_gpu_rtx4060")))
    assert panel.view.cuda_hint.isVisible()
    assert "NVIDIA GeForce RTX 4060" in panel.view.cuda_text.text()
    assert panel.view.cuda_command.text() == cuda_install_command(build.version)
    flags = panel.view.cuda_command.textInteractionFlags()
    assert flags & Qt.TextInteractionFlag.TextSelectableByMouse
    panel.set_gpus(probe_gpus(NvmlStandIn.from_fixture("zero_gpus")))
    assert not panel.view.cuda_hint.isVisible()


def test_gpu_feed_readings_reach_the_panel_on_the_gui_thread(
    panel: OffloadPanel, qtbot: QtBot
) -> None:
    """The shared GpuFeed polls on its own thread; set_gpus runs on ours."""
    threads: list[bool] = []
    feed = GpuFeed(probe=lambda: probe_gpus(NvmlStandIn.from_fixture("one_gpu_rtx4060")))
    feed.sig_probe.connect(
        lambda _probe: threads.append(threading.current_thread() is threading.main_thread())
    )
    feed.sig_probe.connect(panel.set_gpus)
    try:
        with qtbot.waitSignal(feed.sig_probe, timeout=5000):
            feed.start(interval_s=0.02)
        qtbot.waitUntil(lambda: len(threads) >= 2, timeout=5000)
    finally:
        feed.stop()
    assert not feed.running
    assert threads and all(threads)
    current = panel.controls.gpu.current()
    assert current is not None and current.name == "NVIDIA GeForce RTX 4060"


# -- the bar itself ---------------------------------------------------------------------


def test_memory_bar_tooltip_names_the_exact_bytes(qtbot: QtBot) -> None:
    bar = MemoryBar("GPU memory")
    qtbot.addWidget(bar)
    bar.resize(300, bar.heightForWidth(300))
    bar.show()
    bar.set_segments(8 * GiB, {"others": 2 * GiB, "weights": 4 * GiB, "kv_cache": 188_743_680})
    assert bar.summary() == "6.2 of 8.0 GiB"
    y = bar._bar_rect().center().y()
    assert bar.segment_at(75) == "weights"  # 2..6 GiB of 8 spans x 75..225
    assert bar.segment_at(20) == "others"
    assert bar.segment_at(299) == "free"
    event = QHelpEvent(QEvent.Type.ToolTip, QPoint(150, y), bar.mapToGlobal(QPoint(150, y)))
    QApplication.sendEvent(bar, event)
    assert QToolTip.text() == "Model weights: 4.0 GiB (4,294,967,296 bytes) · 50% of 8.0 GiB"
    assert "188,743,680 bytes" in bar.tooltip_text("kv_cache")


def test_memory_bar_over_capacity_is_full_and_red(qtbot: QtBot) -> None:
    bar = MemoryBar("GPU memory")
    qtbot.addWidget(bar)
    bar.resize(300, bar.heightForWidth(300))
    bar.show()
    bar.set_segments(4 * GiB, {"others": GiB, "weights": 5 * GiB})
    assert (bar.over(), bar.free()) == (2 * GiB, 0)
    assert bar.segments() == {"others": GiB, "weights": 5 * GiB, "free": 0}
    assert bar.segment_at(290) == "over" and bar.segment_at(10) == "others"
    assert "2.0 GiB over" in bar.summary()
    image = bar.grab().toImage()
    y = bar._bar_rect().center().y()
    end = image.pixelColor(296, y)
    assert end.red() > end.green() + 40 and end.red() > end.blue() + 40  # red past the end
    with pytest.raises(ValueError):
        bar.set_segments(GiB, {"weights": -1})


def test_help_opens_on_click_and_shows_on_hover(
    panel: OffloadPanel, smol: ModelInfo, smollm2_path: Path
) -> None:
    panel.set_model(smol, str(smollm2_path))
    view = panel.view
    assert "Layers on the GPU run much faster" in view.help_link.toolTip()
    assert not view.help_text.isVisible()
    view.help_link.linkActivated.emit("help")
    assert view.help_text.isVisible()


def test_custom_size_cancel_keeps_the_previous_card(
    panel: OffloadPanel, smol: ModelInfo, smollm2_path: Path, qtbot: QtBot
) -> None:
    use_smol(panel, smol, smollm2_path, RTX_4060)
    picker = panel.controls.gpu
    picker.combo.setCurrentIndex(picker.combo.findData(CUSTOM))
    picker.combo.activated.emit(picker.combo.currentIndex())
    assert picker.custom_row.isVisible()
    assert picker.current() == RTX_4060  # still planning for the last real choice
    qtbot.mouseClick(picker.custom_cancel, Qt.MouseButton.LeftButton)
    assert not picker.custom_row.isVisible()
    assert picker.current_key() == RTX_4060.uuid == picker.combo.currentData()


def test_a_short_panel_scrolls_its_rows_and_keeps_the_load_button_in_sight(
    make_panel: Callable[..., OffloadPanel], qtbot: QtBot, smol: ModelInfo, smollm2_path: Path
) -> None:
    """A 768-pixel laptop screen leaves the chat's side panel about 450 pixels: the rows
    scroll, the Load button stays, and nothing is cut at the side by the scroll bar."""
    panel = make_panel((360, 420))
    panel.set_model(smol, str(smollm2_path))
    bar = panel.speed.parentWidget()
    while bar is not None and not isinstance(bar, QScrollArea):
        bar = bar.parentWidget()
    assert isinstance(bar, QScrollArea)
    qtbot.waitUntil(lambda: bar.verticalScrollBar().maximum() > 0, timeout=5000)  # it scrolls
    settle(qtbot)
    button = panel.load_button
    assert button.isVisible() and panel.rect().contains(button.geometry().bottomRight())
    rows = bar.widget()
    assert rows.width() >= rows.minimumSizeHint().width() - 12  # not squeezed
    assert rows.width() + bar.verticalScrollBar().width() <= bar.width()  # nor cut
    assert panel.minimumSizeHint().width() <= 360
    panel.resize(360, 900)  # tall enough: no scroll bar, the usual margins
    qtbot.waitUntil(lambda: bar.verticalScrollBar().maximum() == 0, timeout=5000)


# -- screenshots ------------------------------------------------------------------------


def test_screenshots_show_each_verdict(tmp_path: Path, qtbot: QtBot) -> None:
    from offload_screens import SIZE, render_offload_screens

    shots = render_offload_screens(tmp_path / "shots", tmp_path)
    assert list(shots) == ["fits", "tight", "no-fit"]
    for name, key in (("fits", "fits"), ("tight", "tight"), ("no-fit", "no_fit")):
        image = QImage(str(shots[name]))
        assert (image.width(), image.height()) == SIZE
        wanted = VERDICT_COLORS[key].rgb()
        assert any(
            image.pixel(x, y) == wanted for y in range(image.height()) for x in range(0, 60)
        ), f"no {key} verdict dot in {name}"
