"""The Load panel's split row (issue 11): shown for two or more GPUs (a what-if pair, or
"All GPUs" of NVML -- here the NVML stand-in replaying a two-GPU fixture, as these machines
have no GPU), hidden for one; its choices move the bars by exactly the estimator's numbers,
are remembered per model, and "By row" is offered disabled with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from nvml_standin import NvmlStandIn
from pytestqt.qtbot import QtBot
from test_offload_panel_gpus import MARGIN, PAIR_3060, assert_bars_show, split_plan

from lmdesk.core.estimate.row_split import ROW_REFUSED
from lmdesk.core.gguf import ModelInfo, read_model
from lmdesk.core.gpus import WHAT_IF_CARDS, probe_gpus
from lmdesk.core.load_settings import LoadSettings
from lmdesk.ui.kit.offload import OffloadPanel
from lmdesk.ui.kit.offload.gpu_picker import ALL_GPUS
from lmdesk.ui.services.context import SettingsStore


@pytest.fixture(scope="module")
def smol(smollm2_path: Path) -> ModelInfo:
    return read_model(smollm2_path)


def make_panel(qtbot: QtBot, store: SettingsStore | None = None) -> OffloadPanel:
    panel = OffloadPanel(store)
    qtbot.addWidget(panel)
    panel.resize(400, 900)
    panel.show()
    panel.set_margin(MARGIN)
    return panel


def pick(panel: OffloadPanel, key: str) -> None:
    assert panel.controls.gpu.select(key)
    panel.controls.gpu.target_changed.emit()


def choose(panel: OffloadPanel, mode: str, main: int | None = None) -> None:
    """As a person does: pick from the combo boxes (activated, as a click emits it)."""
    row = panel.controls.split
    row.mode.setCurrentIndex(row.mode.findData(mode))
    row.mode.activated.emit(row.mode.currentIndex())
    if main is not None:
        row.main.setCurrentIndex(main)
        row.main.activated.emit(main)


def test_the_row_shows_for_a_pair_and_hides_for_one_card(
    qtbot: QtBot, smol: ModelInfo, smollm2_path: Path
) -> None:
    panel = make_panel(qtbot)
    panel.set_model(smol, str(smollm2_path), LoadSettings(n_gpu_layers=-1, n_ctx=2048))
    row = panel.controls.split
    pick(panel, PAIR_3060.uuid)
    assert row.isVisible()
    assert [row.main.itemText(i) for i in range(row.main.count())] == [
        "GPU 0 · GeForce RTX 3060 12 GB",
        "GPU 1 · GeForce RTX 3060 12 GB",
    ]
    assert not row.main.isEnabled()  # llama.cpp reads the main GPU only with "none"
    # "By row" is there, disabled, and says why.
    item = row.mode.model().item(row.mode.findData("row"))  # type: ignore[attr-defined]
    assert not item.isEnabled() and ROW_REFUSED in item.toolTip()
    pick(panel, WHAT_IF_CARDS[0].uuid)
    assert not row.isVisible()
    assert (panel.settings().split_mode, panel.settings().main_gpu) == ("layer", 0)


def test_main_gpu_only_moves_the_bars_by_the_estimators_numbers_and_is_remembered(
    qtbot: QtBot, smol: ModelInfo, smollm2_path: Path
) -> None:
    store = SettingsStore()
    panel = make_panel(qtbot, store)
    panel.set_model(smol, str(smollm2_path), LoadSettings(n_gpu_layers=-1, n_ctx=2048))
    pick(panel, PAIR_3060.uuid)
    cards = PAIR_3060.cards
    assert_bars_show(panel, split_plan(smol, panel.settings(), cards), cards)
    for main in (1, 0):
        choose(panel, "none", main)
        settings = panel.settings()
        assert (settings.split_mode, settings.main_gpu) == ("none", main)
        plan = split_plan(smol, settings, cards)
        assert plan.gpus[1 - main].total == 0 and len(plan.gpus[main].layers) == 31
        assert_bars_show(panel, plan, cards)
        assert panel.controls.split.main.isEnabled()
    choose(panel, "none", 1)
    panel.save_now()
    saved = store.settings.remembered(str(smollm2_path))
    assert saved is not None and (saved.split_mode, saved.main_gpu) == ("none", 1)
    assert saved.gpu == PAIR_3060.uuid
    # A new panel on the same model finds the pair, the split and the main GPU again.
    again = make_panel(qtbot, store)
    again.set_model(smol, str(smollm2_path))
    assert again.controls.gpu.current_key() == PAIR_3060.uuid
    assert (again.settings().split_mode, again.settings().main_gpu) == ("none", 1)
    assert_bars_show(again, split_plan(smol, again.settings(), cards), cards)


def test_all_gpus_of_nvml_get_the_row_and_a_row_setting_is_a_verdict_not_a_crash(
    qtbot: QtBot, smol: ModelInfo, smollm2_path: Path
) -> None:
    panel = make_panel(qtbot)
    probe = probe_gpus(NvmlStandIn.from_fixture("two_gpus_rtx3060_rtx4060"), own_pid=1)
    panel.set_gpus(probe)
    # Settings that say "row" (say, from the CLI): shown, planned, and judged in words.
    panel.set_model(
        smol, str(smollm2_path), LoadSettings(n_gpu_layers=-1, n_ctx=2048, split_mode="row")
    )
    pick(panel, ALL_GPUS)
    assert panel.controls.split.isVisible()
    assert panel.settings().split_mode == "row"
    plan = split_plan(smol, panel.settings(), probe.gpus)
    assert plan.refused == ROW_REFUSED
    assert_bars_show(panel, plan, probe.gpus)
    assert panel.view.verdict.headline.text() == "Will not load"
    choose(panel, "layer")
    assert panel.view.verdict.headline.text() != "Will not load"
