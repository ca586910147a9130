"""Every fit judgement counts the vision projector a model is loaded with.

The model is the real SmolLM2; the projector is a real one written by
tests/mmproj_factory.py (13 MB, libmtmd loads it). The card is the what-if RTX 4060 with a
safety margin chosen so that every layer of SmolLM2 fits with 2 MiB to spare, and the
projector does not: each place must then give fewer layers, exactly the core's count for
the plan with the projector (`fit_with_projector`), while the model alone still shows
"Full offload".
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hub_server import HubServer, isolate_hf_home
from mmproj_factory import write_mmproj
from model_pages import (
    SMOL,
    SMOL_FILE,
    PageKeeper,
    hub_fixture,  # noqa: F401 - the `hub` fixture
    make_context,
)
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from lmdesk.core.cpu_threads import ThreadCounts
from lmdesk.core.estimate import APPROX, FitInputs, GpuTarget, estimate
from lmdesk.core.estimate.projector import (
    ProjectorInfo,
    fit_with_projector,
    read_projector,
    with_projector,
)
from lmdesk.core.gguf import ModelInfo, read_model
from lmdesk.core.gpus import WHAT_IF_CARDS
from lmdesk.core.load_plan import default_load_settings, settings_for
from lmdesk.core.serving.fit_together import fits_beside, memory_plan
from lmdesk.core.settings import LoadDefaults, Settings
from lmdesk.core.speed.compare import compare_cards
from lmdesk.core.speed.cpu_speed import CpuSpeed
from lmdesk.core.units import GiB, MiB, format_size
from lmdesk.ui.pages.discover.files_model import FIT, FilesModel
from lmdesk.ui.pages.discover.page import DiscoverPage
from lmdesk.ui.pages.library.library_model import FIT as LIBRARY_FIT
from lmdesk.ui.pages.library.page import LibraryPage
from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore

SMOLLM2_EMBD = 576
RTX_4060 = next(card for card in WHAT_IF_CARDS if card.name == "GeForce RTX 4060 8 GB")
CPU = CpuSpeed(threads=ThreadCounts(1, 1), read_bytes_per_s=5e9, flops=50e9)
REPO = "tester/SmolVision-GGUF"
PROJECTOR_FILE = "mmproj-SmolVision-f16.gguf"


@dataclass(frozen=True)
class Pair:
    model_path: Path
    projector_path: Path
    model: ModelInfo
    projector: ProjectorInfo
    margin: int  # every layer of the model alone fits with 2 MiB to spare; the pair does not

    @property
    def total(self) -> int:
        return self.model.n_layer + 1

    def inputs(self) -> FitInputs:
        return FitInputs(RTX_4060, LoadDefaults(), self.margin, 64 * GiB)

    def expected_layers(self, projector: ProjectorInfo | None = None) -> int:
        """The core's layer count for the model with `projector` (default: the real one)."""
        load = self.inputs().load_for(self.model)
        result = fit_with_projector(
            self.model,
            load,
            projector or self.projector,
            gpu_free=RTX_4060.usable_bytes,
            margin=self.margin,
            gpu_name=RTX_4060.name,
        )
        return result.n_gpu_layers


@pytest.fixture
def pair(smollm2_path: Path, tmp_path: Path) -> Pair:
    folder = tmp_path / "models" / "tester" / "SmolVision"
    folder.mkdir(parents=True)
    model_path = folder / smollm2_path.name
    os.link(smollm2_path, model_path)
    projector_path = write_mmproj(folder / PROJECTOR_FILE, text_embd=SMOLLM2_EMBD, hidden=512)
    model = read_model(model_path)
    load = default_load_settings(LoadDefaults(), n_ctx_train=model.n_ctx_train)
    everything = load.with_changes(n_gpu_layers=model.n_layer + 1)
    need = estimate(model, everything, [GpuTarget(RTX_4060.name)]).gpu_total
    margin = RTX_4060.usable_bytes - need - 2 * MiB
    return Pair(model_path, projector_path, model, read_projector(projector_path), margin)


# -- the one owner ---------------------------------------------------------------------------


def test_auto_leaves_room_for_the_projector_and_the_plan_counts_it(pair: Pair) -> None:
    model, info = pair.model, pair.projector
    load = pair.inputs().load_for(model)
    budget = RTX_4060.usable_bytes - pair.margin
    result = fit_with_projector(
        model, load, info, gpu_free=RTX_4060.usable_bytes, margin=pair.margin, gpu_name="x"
    )
    n = result.n_gpu_layers
    assert 0 < n < pair.total

    def seeing(layers: int) -> int:
        plan = estimate(model, load.with_changes(n_gpu_layers=layers), [GpuTarget("x")])
        return with_projector(plan, info).gpus[0].total

    assert result.plan == with_projector(
        estimate(model, load.with_changes(n_gpu_layers=n), [GpuTarget("x")]), info
    )
    assert seeing(n) <= budget < seeing(n + 1)  # the most layers that fit beside it
    # the load rule (Auto, the Load panel, plan_load) gives the same count
    settings = Settings(gpu_safety_margin_bytes=pair.margin)
    fitted = settings_for(model, pair.model_path, settings, gpu=RTX_4060)
    assert fitted.mmproj == str(pair.projector_path)
    assert fitted.n_gpu_layers == n


def test_the_verdict_counts_the_projector(pair: Pair) -> None:
    inputs = pair.inputs()
    alone = inputs.words(pair.model)
    assert alone.text == "Full offload"
    n = pair.expected_layers()
    words = inputs.words(pair.model, pair.projector)
    assert (words.text, words.kind) == (f"Partial: {n} of {pair.total} layers", "partial")
    assert f"with its vision projector ({format_size(pair.projector.file_bytes)})" in words.detail
    assert not words.approximate
    # known by its file size alone (the header on its way): counted as weights, and "≈"
    by_size = ProjectorInfo.from_size(PROJECTOR_FILE, pair.projector.file_bytes)
    rough = inputs.words(pair.model, by_size)
    assert rough.approximate
    assert (
        rough.text == f"Partial: {pair.expected_layers(by_size)} of {pair.total} layers ({APPROX})"
    )


def test_compare_cards_counts_the_projector_on_the_gpu(pair: Pair) -> None:
    load = pair.inputs().load_for(pair.model)
    (alone,) = compare_cards(pair.model, load, CPU, [RTX_4060], margin=pair.margin)
    (seeing,) = compare_cards(
        pair.model, load, CPU, [RTX_4060], margin=pair.margin, projector=pair.projector
    )
    assert alone.full_offload and alone.gpu_layers == pair.total
    assert seeing.gpu_layers == pair.expected_layers() < pair.total


def test_the_server_pool_counts_the_projector_in_its_room_check(pair: Pair) -> None:
    load = pair.inputs().load_for(pair.model).with_changes(n_gpu_layers=pair.total)
    alone = memory_plan(pair.model_path, load, RTX_4060)
    seeing = memory_plan(
        pair.model_path, load.with_changes(mmproj=str(pair.projector_path)), RTX_4060
    )
    assert seeing.devices == with_projector(alone, pair.projector).devices
    assert seeing.gpu_total > alone.gpu_total

    def room(plan: object) -> bool:
        return fits_beside(
            [],
            plan,  # type: ignore[arg-type]
            ram_available=64 * GiB,
            gpu_usable=RTX_4060.usable_bytes,
            margin=pair.margin,
        )

    assert room(alone) and not room(seeing)
    # with the layers Auto gives the pair, it fits
    fewer = load.with_changes(n_gpu_layers=pair.expected_layers(), mmproj=str(pair.projector_path))
    assert room(memory_plan(pair.model_path, fewer, RTX_4060))


# -- the pages -------------------------------------------------------------------------------


@pytest.fixture
def library(
    qtbot: QtBot, pair: Pair, smollm2_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LibraryPage]:
    isolate_hf_home(tmp_path, monkeypatch)
    alone = tmp_path / "models" / "tester" / "TextOnly" / "SmolLM2-text.gguf"
    alone.parent.mkdir(parents=True)
    os.link(smollm2_path, alone)
    store = SettingsStore(
        Settings(models_dir=str(tmp_path / "models"), gpu_safety_margin_bytes=pair.margin)
    )
    page = LibraryPage(
        AppContext(settings=store, signals=AppSignals()), scan_options={"lm_studio": []}
    )
    qtbot.addWidget(page)
    page.resize(1200, 500)
    page.show()
    qtbot.waitUntil(lambda: page.scanner.scans >= 1 and not page.scanner.busy, timeout=15_000)
    yield page
    page.shutdown()
    assert page.wait(20)


def test_my_models_judges_a_paired_model_with_its_projector(
    library: LibraryPage, pair: Pair, qtbot: QtBot, tmp_path: Path
) -> None:
    page = library
    assert page.target.select(RTX_4060.uuid)

    def fit_text(name: str) -> object:
        row = next(i for i, e in enumerate(page.model.entries()) if e.path.name == name)
        return page.model.data(page.model.index(row, LIBRARY_FIT))

    expected = f"Partial: {pair.expected_layers()} of {pair.total} layers"
    qtbot.waitUntil(lambda: fit_text(pair.model_path.name) == expected, timeout=15_000)
    assert fit_text("SmolLM2-text.gguf") == "Full offload"  # the same model, no projector
    page.grab().save("/tmp/projector_my_models.png")
    # Compare cards from My Models counts it too
    row = next(i for i, e in enumerate(page.model.entries()) if e.path == pair.model_path)
    page.table.selectRow(page.proxy.mapFromSource(page.model.index(row, 0)).row())
    dialog = page.compare_selected()
    assert dialog is not None and dialog._projector == pair.projector
    dialog.close()


@pytest.fixture
def vision_hub(hub: HubServer, pair: Pair) -> HubServer:
    hub.add_repo(
        REPO,
        {SMOL_FILE: pair.model_path, PROJECTOR_FILE: pair.projector_path},
        tags=["gguf"],
        downloads=10_000,
    )
    return hub


def test_discover_counts_the_projector_that_comes_with_the_model(
    qtbot: QtBot, vision_hub: HubServer, pair: Pair, tmp_path: Path
) -> None:
    context = make_context(vision_hub, tmp_path / "dl", gpu_safety_margin_bytes=pair.margin)
    keeper = PageKeeper(context)
    try:
        page = keeper.add(DiscoverPage(context))
        qtbot.addWidget(page)
        page.resize(1200, 560)
        page.show()
        qtbot.waitUntil(lambda: REPO in page.results.repo_ids(), timeout=15_000)
        assert page.target.select(RTX_4060.uuid)
        page.list.setCurrentIndex(page.results.index(page.results.repo_ids().index(REPO), 0))
        view = page.repo_view
        files = view.files
        qtbot.waitUntil(
            lambda: files.projector_header is not None and not view.headers.busy, timeout=15_000
        )
        row = next(i for i, r in enumerate(files.rows()) if r.kind == "model")
        assert files.rows()[row].info is not None
        expected = f"Partial: {pair.expected_layers()} of {pair.total} layers"
        pair_words = f"· + vision projector ({format_size(pair.projector_path.stat().st_size)})"
        assert files.data(files.index(row, FIT)) == f"{expected}  {pair_words}"
        assert files.projector_header == replace(pair.projector, name=PROJECTOR_FILE)
        assert "Verdicts for GeForce RTX 4060 8 GB" in view.status.text()
        page.grab().save("/tmp/projector_discover.png")
        # its header is read once per repository: opening it again asks the hub for nothing
        served = len(vision_hub.requests_for(PROJECTOR_FILE))
        assert served > 0
        other = page.results.repo_ids().index(SMOL)
        page.list.setCurrentIndex(page.results.index(other, 0))
        qtbot.waitUntil(lambda: files.projector is None and not view.headers.busy, timeout=15_000)
        page.list.setCurrentIndex(page.results.index(page.results.repo_ids().index(REPO), 0))
        qtbot.waitUntil(
            lambda: files.projector_header is not None and not view.headers.busy, timeout=15_000
        )
        assert files.data(files.index(row, FIT)) == f"{expected}  {pair_words}"
        assert len(vision_hub.requests_for(PROJECTOR_FILE)) == served
    finally:
        keeper.close()


def test_discover_counts_the_projector_by_its_size_until_its_header_arrives(
    qtbot: QtBot, pair: Pair
) -> None:
    from lmdesk.core.hub import RemoteModel, RemoteModelFile

    size = pair.model_path.stat().st_size
    model = RemoteModel(
        REPO, "SmolLM2", "Q4_1", (RemoteModelFile(REPO, SMOL_FILE, size, None, "Q4_1"),)
    )
    p_size = pair.projector_path.stat().st_size
    projector = RemoteModel(
        REPO,
        "mmproj-SmolVision-f16",
        None,
        (RemoteModelFile(REPO, PROJECTOR_FILE, p_size, None, None, kind="projector"),),
    )
    files = FilesModel()
    inputs = pair.inputs()
    files.set_models([model, projector], inputs)
    assert files.projector is not None and files.projector.name == projector.name
    # no header yet: the size-based verdict has the projector's bytes in it
    assert files.rows()[0].words == inputs.words_from_size(size + p_size)
    files.set_header("SmolLM2", pair.model, inputs)
    by_size = ProjectorInfo.from_size(projector.name, p_size)
    assert files.rows()[0].words == inputs.words(pair.model, by_size)
    assert files.rows()[0].words.approximate  # type: ignore[union-attr]
    waiting = files.data(files.index(0, FIT), Qt.ItemDataRole.ToolTipRole)
    assert "Reading the vision projector's header from the hub…" in waiting
    files.set_projector(projector.name, pair.projector, inputs)
    words = files.rows()[0].words
    assert words == inputs.words(pair.model, pair.projector) and not words.approximate  # type: ignore[union-attr]
    assert words.text == f"Partial: {pair.expected_layers()} of {pair.total} layers"  # type: ignore[union-attr]
    # a projector whose header cannot be read is not paired by the load rule: not counted
    files.set_header_error(projector.name, "not a GGUF file")
    files.refresh_verdicts(inputs)
    assert files.rows()[0].words == inputs.words(pair.model)
    assert files.rows()[0].words.text == "Full offload"  # type: ignore[union-attr]
    tip = files.data(files.index(0, FIT), Qt.ItemDataRole.ToolTipRole)
    assert "The vision projector is not counted: its header could not be read" in tip


def test_the_cli_counts_a_projector_given_with_mmproj(pair: Pair, tmp_path: Path) -> None:
    """`lmdesk estimate/fit --mmproj`: the plan is the core's plan with the projector, and
    fit leaves it room on the GPU (the pair's margin lets the model alone take every layer)."""
    import json
    import subprocess
    import sys

    def lmdesk(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lmdesk", *args], capture_output=True, text=True, timeout=120
        )

    card = ["--card", RTX_4060.name, "--margin", f"{pair.margin}B", "--json"]
    model = str(pair.model_path)
    alone = json.loads(lmdesk("fit", model, *card).stdout)
    both = lmdesk("fit", model, "--mmproj", str(pair.projector_path), *card)
    assert both.returncode == 0, both.stderr
    paired = json.loads(both.stdout)
    assert alone["n_gpu_layers"] == pair.total
    assert paired["n_gpu_layers"] == pair.expected_layers() < pair.total
    out = json.loads(lmdesk("estimate", model, "--mmproj", str(pair.projector_path), *card).stdout)
    load = pair.inputs().load_for(pair.model).with_changes(n_gpu_layers=-1)
    plain = estimate(pair.model, load, [GpuTarget(RTX_4060.name)])
    planned = with_projector(plain, pair.projector)
    assert [d["total"] for d in out["devices"]] == [d.total for d in planned.devices]
    assert out["devices"][1]["total"] > plain.devices[1].total  # on the GPU
    not_one = tmp_path / "not-a-projector.gguf"
    not_one.write_bytes(b"GGUF" + b"\0" * 64)
    bad = lmdesk("estimate", model, "--mmproj", str(not_one), "--vram", "8GiB")
    assert bad.returncode != 0 and "--mmproj" in bad.stderr and "Traceback" not in bad.stderr
