"""The Load panel over several GPUs: "All GPUs" of a probe and what-if pairs.

A Gemma 2 27B Q4_K_M shaped header (real hyperparameters, ~16.6 GB) does not
fit one 12 GB card but does fit a 12 GB + 8 GB pair, so the split matters.
Every expected number comes from `lmdesk.core.estimate` here, with the split by
usable memory that `fit` uses; NVML is the stand-in replaying a two-GPU fixture.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from nvml_standin import NvmlStandIn
from pytestqt.qtbot import QtBot
from shaped_models import GEMMA2_27B, write_shaped

from lmdesk.core.estimate import DevicePlan, Fit, GpuTarget, MemoryPlan, estimate, fit, judge
from lmdesk.core.gguf import ModelInfo, read_model
from lmdesk.core.gpus import WHAT_IF_CARDS, WHAT_IF_PAIRS, GpuInfo, find_what_if_group, probe_gpus
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.units import GiB
from lmdesk.ui.kit.offload import OffloadPanel
from lmdesk.ui.kit.offload.gpu_picker import ALL_GPUS, GpuPicker

MARGIN = GiB // 2
PAIR_3060 = next(g for g in WHAT_IF_PAIRS if g.name == "2 × GeForce RTX 3060 12 GB")


@pytest.fixture(scope="module")
def gemma(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelInfo, Path]:
    path = write_shaped(tmp_path_factory.mktemp("gemma") / "gemma-2-27b.gguf", GEMMA2_27B, "Q4_K_M")
    return read_model(path[0]), path[0]


@pytest.fixture
def panel(make_panel: Callable[..., OffloadPanel]) -> OffloadPanel:
    return make_panel((360, 900), MARGIN)


def split_plan(model: ModelInfo, settings: LoadSettings, gpus: tuple[GpuInfo, ...]) -> MemoryPlan:
    targets = [GpuTarget(g.name, weight=float(g.usable_bytes)) for g in gpus]
    return estimate(model, settings, targets)


def expected_segments(device: DevicePlan, gpu: GpuInfo) -> dict[str, int]:
    return {
        "others": gpu.used_by_others_bytes,
        "weights": device.weights + device.repack,
        "kv_cache": device.kv_cache,
        "compute": device.compute + device.output,
        "overhead": device.overhead,
        "free": max(0, gpu.total_bytes - gpu.used_by_others_bytes - device.total),
    }


def assert_bars_show(panel: OffloadPanel, plan: MemoryPlan, gpus: tuple[GpuInfo, ...]) -> None:
    bars = [bar for bar in panel.view.gpu_bars if not bar.isHidden()]
    assert len(bars) == len(gpus) == len(plan.gpus)
    for i, (bar, device, gpu) in enumerate(zip(bars, plan.gpus, gpus, strict=True)):
        assert bar.segments() == expected_segments(device, gpu)
        assert bar.total() == gpu.total_bytes
        assert bar.title() == f"GPU {i} · {gpu.name.removeprefix('NVIDIA ')}"
    assert panel.view.ram_bar.segments()["weights"] == plan.cpu.weights + plan.cpu.repack
    assert panel.current_plan() == plan


def test_all_gpus_of_the_probe_split_the_layers_by_free_memory(
    panel: OffloadPanel, gemma: tuple[ModelInfo, Path]
) -> None:
    model, path = gemma
    probe = probe_gpus(NvmlStandIn.from_fixture("two_gpus_rtx3060_rtx4060"), own_pid=1)
    assert [g.name for g in probe.gpus] == ["NVIDIA GeForce RTX 3060", "NVIDIA GeForce RTX 4060"]
    panel.set_gpus(probe)
    picker = panel.controls.gpu
    assert picker.keys()[:3] == [probe.gpus[0].uuid, probe.gpus[1].uuid, ALL_GPUS]
    assert picker.combo.itemText(2).startswith("All 2 GPUs · ")
    settings = LoadSettings(n_gpu_layers=-1, n_ctx=4096)
    panel.set_model(model, str(path), settings)
    assert picker.select(ALL_GPUS)
    picker.target_changed.emit()
    assert picker.current_gpus() == probe.gpus
    settings = panel.settings()
    plan = split_plan(model, settings, probe.gpus)
    # Both cards hold layers, the 12 GB one more of them.
    assert plan.gpus[0].weights > plan.gpus[1].weights > 0
    assert_bars_show(panel, plan, probe.gpus)
    verdict = judge(plan, gpu_free=[g.usable_bytes for g in probe.gpus], margin=MARGIN)
    assert panel.current_verdict() == verdict
    assert verdict.fit is Fit.NO_FIT  # every layer at 4k: ~360 MiB short of the margin
    assert panel.view.verdict.headline.text() == verdict.headline
    # One card alone cannot hold it all.
    assert picker.select(probe.gpus[0].uuid)
    picker.target_changed.emit()
    assert [bar.isHidden() for bar in panel.view.gpu_bars] == [False, True]
    assert panel.view.gpu_bar.title() == "GPU memory"
    assert panel.current_verdict().fit is Fit.NO_FIT
    # Fresh readings keep "All GPUs", and the bars follow them.
    assert picker.select(ALL_GPUS)
    picker.target_changed.emit()
    busier = dataclasses.replace(
        probe.gpus[1], used_by_others_bytes=probe.gpus[1].used_by_others_bytes + GiB
    )
    fresh = dataclasses.replace(probe, gpus=(probe.gpus[0], busier))
    panel.set_gpus(fresh)
    assert picker.current_key() == ALL_GPUS
    assert_bars_show(panel, split_plan(model, settings, fresh.gpus), fresh.gpus)


def test_auto_fits_over_every_gpu(panel: OffloadPanel, gemma: tuple[ModelInfo, Path]) -> None:
    model, path = gemma
    probe = probe_gpus(NvmlStandIn.from_fixture("two_gpus_rtx3060_rtx4060"), own_pid=1)
    panel.set_gpus(probe)
    panel.set_model(model, str(path), LoadSettings(n_gpu_layers=0, n_ctx=8192))
    assert panel.controls.gpu.select(ALL_GPUS)
    panel.controls.gpu.target_changed.emit()
    result = panel.auto_fit()
    expected = fit(
        model,
        LoadSettings(n_gpu_layers=0, n_ctx=8192),
        gpu_free=[g.usable_bytes for g in probe.gpus],
        margin=MARGIN,
        gpu_name=[g.name for g in probe.gpus],
    )
    assert result == expected
    assert panel.settings().n_gpu_layers == expected.n_gpu_layers
    assert expected.n_gpu_layers > 0
    plan = split_plan(model, panel.settings(), probe.gpus)
    assert_bars_show(panel, plan, probe.gpus)
    assert panel.current_verdict().fit in (Fit.FITS, Fit.TIGHT)
    assert expected.max_full_offload_ctx == 0  # 27B at 8k: not all of it, at any context
    assert panel.controls.suggestion.text().endswith("fit on these GPUs.")


def test_a_what_if_pair_is_planned_as_two_gpus(
    panel: OffloadPanel, gemma: tuple[ModelInfo, Path]
) -> None:
    model, path = gemma
    panel.set_model(model, str(path), LoadSettings(n_gpu_layers=-1, n_ctx=4096))
    picker = panel.controls.gpu
    assert picker.combo.findData(PAIR_3060.uuid) >= 0
    label = picker.combo.itemText(picker.combo.findData(PAIR_3060.uuid))
    assert label == "2 × GeForce RTX 3060 12 GB (what-if)"
    assert picker.select(PAIR_3060.uuid)
    picker.target_changed.emit()
    cards = PAIR_3060.cards
    assert [c.total_bytes for c in cards] == [12 * GiB, 12 * GiB]
    plan = split_plan(model, panel.settings(), cards)
    assert plan.gpus[0].weights > 0 and plan.gpus[1].weights > 0
    assert_bars_show(panel, plan, cards)
    assert panel.current_verdict() == judge(
        plan, gpu_free=[c.usable_bytes for c in cards], margin=MARGIN
    )
    result = panel.auto_fit()
    assert result is not None and result.all_layers
    # Remembered by the pair's key, found again by it.
    assert find_what_if_group(PAIR_3060.uuid) == PAIR_3060
    assert picker.select(PAIR_3060.name) and picker.current_gpus() == cards


def test_the_pairs_are_their_own_values() -> None:
    names = [g.name for g in WHAT_IF_PAIRS]
    assert "2 × GeForce RTX 3060 12 GB" in names
    assert "GeForce RTX 3060 12 GB + GeForce RTX 4060 8 GB" in names
    assert len({g.uuid for g in WHAT_IF_PAIRS}) == len(WHAT_IF_PAIRS)
    mixed = find_what_if_group("GeForce RTX 3060 12 GB + GeForce RTX 4060 8 GB")
    assert mixed is not None
    assert [c.total_bytes // GiB for c in mixed.cards] == [12, 8]
    assert [c.index for c in mixed.cards] == [0, 1]
    assert all(c.is_what_if for c in mixed.cards)


def test_a_picker_for_one_card_lists_no_pairs(qtbot: QtBot) -> None:
    """Discover's and My Models' verdicts plan one card: their picker offers single cards."""
    picker = GpuPicker(several=False)
    qtbot.addWidget(picker)
    picker.set_probe(probe_gpus(NvmlStandIn.from_fixture("two_gpus_rtx3060_rtx4060"), own_pid=1))
    keys = picker.keys()
    assert ALL_GPUS not in keys
    assert PAIR_3060.uuid not in keys
    assert not picker.select(PAIR_3060.uuid)
    assert len(picker.keys()) == 2 + len(WHAT_IF_CARDS) + 1  # the two GPUs, the cards, Custom
