"""Predicted speed over several GPUs (issue 11): each device's bytes over its own rate, plus
a hop per device boundary, in the core, on `lmdesk estimate --card <pair>` and in the Load
panel's speed line for a what-if pair."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from test_cli import lmdesk

from lmdesk.core.cpu_threads import ThreadCounts, threads_for
from lmdesk.core.estimate import GpuTarget, estimate
from lmdesk.core.gguf import ModelInfo, read_model
from lmdesk.core.gpus import WHAT_IF_PAIRS
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.speed import CpuSpeed, cpu_speed, model_work, predict
from lmdesk.core.speed.predict import (
    GPU_BANDWIDTH_EFFICIENCY,
    LINK_BYTES_PER_S,
    LINK_LATENCY_S,
    TOKEN_OVERHEAD_S,
)
from lmdesk.core.speed.words import speed_line
from lmdesk.ui.kit.offload import OffloadPanel

CPU = CpuSpeed(threads=ThreadCounts(1, 1), read_bytes_per_s=5e9, flops=50e9)
MIXED = next(g for g in WHAT_IF_PAIRS if g.name.startswith("GeForce RTX 3060 12 GB + "))
TWIN = next(g for g in WHAT_IF_PAIRS if g.name == "2 × GeForce RTX 3060 12 GB")


@pytest.fixture(scope="module")
def smol(smollm2_path: Path) -> ModelInfo:
    return read_model(smollm2_path)


def by_hand(model: ModelInfo, settings: LoadSettings, cards: tuple, cpu: CpuSpeed) -> float:  # type: ignore[type-arg]
    """Seconds per token from the plan's per-device bytes: the CPU's layers and KV over the
    CPU's rate, each GPU's layers and KV over its own bandwidth (at llama.cpp's share of
    it), a small copy per device boundary, and the fixed cost."""
    targets = [GpuTarget(c.name, weight=float(c.usable_bytes)) for c in cards]
    plan = estimate(model, settings, targets)
    layers = model_work(model).layers
    seconds = TOKEN_OVERHEAD_S
    device_of = {il: i for i, d in enumerate(plan.gpus) for il in d.layers}
    for index, device in enumerate(plan.devices):
        read = device.kv_cache  # the whole cache: the token attends to every cell here
        read += sum(
            w.dense_bytes + w.expert_bytes
            for il, w in layers.items()
            if device_of.get(il, -1) == index - 1
        )
        rate = (
            cpu.read_bytes_per_s
            if index == 0
            else cards[index - 1].memory_bandwidth * GPU_BANDWIDTH_EFFICIENCY
        )
        seconds += read / rate
    path = [-1] + [device_of.get(il, -1) for il in range(model.n_layer + 1)]
    hops = sum(1 for a, b in itertools.pairwise(path) if a != b)
    return seconds + hops * (LINK_LATENCY_S + model.n_embd * 4 / LINK_BYTES_PER_S)


def test_two_gpus_sum_their_devices_read_time_plus_a_hop_per_boundary(smol: ModelInfo) -> None:
    settings = LoadSettings(n_gpu_layers=20, n_ctx=2048)
    cards = MIXED.cards
    assert cards[0].memory_bandwidth != cards[1].memory_bandwidth  # each at its own rate
    plan = estimate(
        smol, settings, [GpuTarget(c.name, weight=float(c.usable_bytes)) for c in cards]
    )
    assert plan.cpu.layers and plan.gpus[0].layers and plan.gpus[1].layers
    got = predict(smol, plan, CPU, cards, depth=settings.n_ctx)
    assert got.generation_tps == pytest.approx(1 / by_hand(smol, settings, cards, CPU), rel=1e-12)
    # All on the GPUs: faster than with a third of the layers on the CPU.
    full = settings.with_changes(n_gpu_layers=-1)
    all_gpu = predict(smol, estimate(smol, full, [GpuTarget(c.name) for c in cards]), CPU, cards)
    assert all_gpu.generation_tps is not None and all_gpu.generation_tps > got.generation_tps


def test_estimate_card_pair_plans_both_gpus_with_their_speeds(smollm2_path: Path) -> None:
    for name in (TWIN.name, TWIN.name.replace(" × ", " x ")):  # "x" for "×" on a keyboard
        result = lmdesk("estimate", str(smollm2_path), "--card", name, "--ctx", "2048", "--json")
        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout)
        names = [d["name"] for d in out["devices"]]
        assert names == ["CPU", *(f"GPU {i} ({c.name})" for i, c in enumerate(TWIN.cards))]
        assert all(d["layers"] for d in out["devices"][1:])  # split between the two
        model = read_model(smollm2_path)
        plan = estimate(
            model,
            LoadSettings(n_gpu_layers=-1, n_ctx=2048),
            [GpuTarget(c.name, weight=float(c.usable_bytes)) for c in TWIN.cards],
        )
        assert [d["total"] for d in out["devices"]] == [d.total for d in plan.devices]
        assert out["predicted"]["generation_tps"] is not None
    fitted = lmdesk("fit", str(smollm2_path), "--card", MIXED.name, "--ctx", "2048")
    assert fitted.returncode == 0, fitted.stderr
    assert "fit in 11.7 GiB + 7.7 GiB" in fitted.stdout
    bad = lmdesk("estimate", str(smollm2_path), "--card", "3 × GeForce RTX 3060 12 GB")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "no what-if card or pair called" in bad.stderr
    assert "pairs: 2 × GeForce RTX 3060 12 GB" in bad.stderr


def test_the_panel_shows_the_two_gpu_prediction_for_a_what_if_pair(
    qtbot: QtBot, smol: ModelInfo, smollm2_path: Path
) -> None:
    panel = OffloadPanel()
    qtbot.addWidget(panel)
    panel.resize(400, 900)
    panel.show()
    try:
        panel.set_model(smol, str(smollm2_path), LoadSettings(n_gpu_layers=20, n_ctx=2048))
        assert panel.controls.gpu.select(MIXED.uuid)
        panel.controls.gpu.target_changed.emit()
        qtbot.waitUntil(lambda: panel.speed.prediction() is not None, timeout=30_000)
        settings = panel.settings()
        work = model_work(smol)
        cpu = cpu_speed(work.main_type, threads_for(settings.n_threads), work.head_dim)
        plan = estimate(
            smol, settings, [GpuTarget(c.name, weight=float(c.usable_bytes)) for c in MIXED.cards]
        )
        expected = predict(smol, plan, cpu, MIXED.cards)
        assert expected.generation_tps is not None  # not "unknown" with two GPUs
        assert panel.speed.prediction() == expected
        assert panel.speed.line.text() == speed_line(expected)
        assert panel.speed.chart.isVisible()
        # The curve is the same two-GPU prediction at every layer count.
        qtbot.waitUntil(lambda: not panel.speed.curves_pending, timeout=5000)
        curve = panel.speed.chart.curve()
        assert len(curve) == smol.n_layer + 2 and curve[20] == expected.generation_tps
    finally:
        panel.speed.shutdown()
