"""Discover against the real local hub: search as you type, repository views, verdicts.

Every request goes over HTTP to tests/hub_server.py through the real huggingface_hub
client; verdicts are computed from headers read remotely with byte ranges.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hub_handler import HubHandler
from hub_server import HubServer, gguf_stub
from model_pages import (
    GATED,
    SMOL,
    SMOL_FILE,
    TINY,
    PageKeeper,
    hub_fixture,  # noqa: F401 - the `hub` fixture
    keeper_fixture,  # noqa: F401 - the `keeper` fixture
)
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from lmdesk.core.estimate import APPROX, TOO_LARGE, FitInputs, fit
from lmdesk.core.gguf import read_model
from lmdesk.core.gpus import WHAT_IF_CARDS, custom_card
from lmdesk.core.hub import RemoteModel, RemoteModelFile, RepoSummary
from lmdesk.core.settings import LoadDefaults, Settings
from lmdesk.core.units import GiB, MiB
from lmdesk.ui.pages.discover.files_model import FIT, NAME, QUANT, SIZE, FilesModel
from lmdesk.ui.pages.discover.page import DiscoverPage
from lmdesk.ui.pages.discover.results_model import ResultsModel
from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore

RTX_4060 = next(card for card in WHAT_IF_CARDS if card.name == "GeForce RTX 4060 8 GB")
EVERY_REPO = {SMOL, TINY, GATED, "tester/Blob-GGUF"}


def open_page(qtbot: QtBot, keeper: PageKeeper, **options: object) -> DiscoverPage:
    page = keeper.add(DiscoverPage(keeper.context, **options))  # type: ignore[arg-type]
    qtbot.addWidget(page)
    page.resize(1200, 760)
    page.show()
    qtbot.waitUntil(lambda: set(page.results.repo_ids()) == EVERY_REPO, timeout=15_000)
    return page


def searches(hub: HubServer) -> list[str]:
    """The `search=` of every search request the hub received."""
    return [
        parse_qs(urlsplit(r.path).query).get("search", [""])[0]
        for r in hub.requests_for("/api/models?", "GET")
    ]


def open_repo(qtbot: QtBot, page: DiscoverPage, repo_id: str) -> None:
    row = page.results.repo_ids().index(repo_id)
    page.list.setCurrentIndex(page.results.index(row, 0))
    qtbot.waitUntil(lambda: page.repo_view.files.rowCount() > 0, timeout=15_000)


def headers_read(page: DiscoverPage) -> bool:
    view = page.repo_view
    return not view.headers.busy and all(
        r.info is not None or r.header_error or not r.judged for r in view.files.rows()
    )


# -- the models ----------------------------------------------------------------------------


def test_the_qt_models_pass_the_model_tester(qtmodeltester: object) -> None:
    results = ResultsModel()
    summary = RepoSummary(SMOL, "QuantFactory", 900, 40, datetime(2024, 11, 1), ("gguf",), False)
    results.append([summary, summary])  # duplicates are skipped
    assert results.rowCount() == 1
    qtmodeltester.check(results)  # type: ignore[attr-defined]
    part = RemoteModelFile(SMOL, SMOL_FILE, 98_362_432, None, "Q4_1")
    files = FilesModel()
    inputs = FitInputs(gpu=None, defaults=LoadDefaults(), margin=GiB, ram_total=64 * GiB)
    files.set_models([RemoteModel(SMOL, "SmolLM2", "Q4_1", (part,))], inputs)
    qtmodeltester.check(files)  # type: ignore[attr-defined]
    assert files.data(files.index(0, FIT)) == f"CPU only ({APPROX})"


# -- search --------------------------------------------------------------------------------


def test_search_updates_as_you_type_with_one_request_per_pause(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper
) -> None:
    page = open_page(qtbot, keeper)
    hub.reset_counters()
    qtbot.keyClicks(page.query_box, "smol")
    qtbot.waitUntil(lambda: page.results.repo_ids() == [SMOL], timeout=15_000)
    assert searches(hub) == ["smol"]  # four keystrokes, one search
    assert page.list_status.text() == "1 repository"
    page.query_box.clear()
    qtbot.keyClicks(page.query_box, "tiny")
    qtbot.waitUntil(lambda: page.results.repo_ids() == [TINY], timeout=15_000)
    page.author_box.setText("nobody")
    qtbot.waitUntil(lambda: "No GGUF repositories match" in page.list_status.text())
    assert page.results.rowCount() == 0


def test_sort_and_author_filter(qtbot: QtBot, hub: HubServer, keeper: PageKeeper) -> None:
    page = open_page(qtbot, keeper)
    assert page.results.repo_ids()[:2] == [TINY, SMOL]  # most downloaded first
    page.sort_combo.setCurrentIndex(page.sort_combo.findData("likes"))
    qtbot.waitUntil(lambda: page.results.repo_ids()[:2] == [SMOL, TINY], timeout=15_000)
    page.author_box.setText("bartowski")
    qtbot.waitUntil(lambda: page.results.repo_ids() == [TINY], timeout=15_000)


def test_a_new_query_cancels_the_search_still_running(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = open_page(qtbot, keeper)
    gate = threading.Event()
    answer = HubHandler._list_models

    def held(handler: HubHandler, query: dict[str, list[str]], user: str | None) -> None:
        if query.get("search") == ["llama"]:
            gate.wait(20)  # the hub is slow to answer this one
        answer(handler, query, user)

    monkeypatch.setattr(HubHandler, "_list_models", held)
    qtbot.keyClicks(page.query_box, "llama")
    qtbot.waitUntil(lambda: "llama" in searches(hub), timeout=15_000)
    stale = page.search.task
    assert stale is not None and page.spinner.isVisible()
    with qtbot.waitSignal(stale.sig_failed, timeout=15_000) as cancelled:
        page.query_box.clear()
        qtbot.keyClicks(page.query_box, "smol")
        qtbot.waitUntil(lambda: page.results.repo_ids() == [SMOL], timeout=15_000)
        gate.set()  # the stale answer (two llama repos) arrives now
    assert cancelled.args == ["Cancelled", ""]
    qtbot.waitUntil(lambda: not stale.running)
    qtbot.wait(50)  # let anything the stale task queued be delivered
    assert page.results.repo_ids() == [SMOL]
    assert not page.spinner.isVisible()


def test_more_results_fetches_the_next_page(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper
) -> None:
    page = keeper.add(DiscoverPage(keeper.context, page_size=2))
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(lambda: page.results.rowCount() == 2, timeout=15_000)
    assert page.more_button.isVisible() and page.list_status.text() == "2+ repositories"
    hub.reset_counters()
    page.more_button.click()
    qtbot.waitUntil(lambda: page.results.rowCount() == 4, timeout=15_000)
    assert set(page.results.repo_ids()) == EVERY_REPO
    (more,) = hub.requests_for("/api/models?", "GET")
    query = parse_qs(urlsplit(more.path).query)
    assert "cursor" in query and query["limit"] == ["2"]  # the hub's next page, not page 1 again
    page.more_button.click()
    qtbot.waitUntil(lambda: page.search.exhausted and not page.search.busy, timeout=15_000)
    assert not page.more_button.isVisible() and page.results.rowCount() == 4


def test_a_rate_limited_search_says_so_then_shows_the_results(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper
) -> None:
    hub.rate_limit(1, reset_s=2, path_part="/api/models?")
    page = keeper.add(DiscoverPage(keeper.context))
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(
        lambda: page.list_status.text().startswith("Rate-limited by Hugging Face, retrying in"),
        timeout=15_000,
    )
    assert page.list_status.text()[-3:] in ("2 s", "1 s")
    qtbot.waitUntil(lambda: set(page.results.repo_ids()) == EVERY_REPO, timeout=15_000)
    assert page.list_status.text() == "4 repositories"


def test_the_hf_endpoint_variable_reaches_discover_when_settings_name_none(
    qtbot: QtBot, hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    store = SettingsStore(Settings(hf_endpoint="", models_dir=str(tmp_path / "models")))
    keeper = PageKeeper(AppContext(settings=store, signals=AppSignals()))
    try:
        page = open_page(qtbot, keeper)  # every repository, from the hub $HF_ENDPOINT names
        open_repo(qtbot, page, SMOL)
        qtbot.waitUntil(lambda: headers_read(page), timeout=15_000)
        assert page.repo_view.files.rows()[0].info is not None
    finally:
        keeper.close()


# -- a repository --------------------------------------------------------------------------


def test_verdicts_come_from_the_remote_header(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper, smollm2_path: Path
) -> None:
    page = open_page(qtbot, keeper)
    hub.reset_counters()
    open_repo(qtbot, page, SMOL)
    view = page.repo_view
    assert view.title.text() == SMOL
    qtbot.waitUntil(lambda: headers_read(page), timeout=15_000)
    (row,) = view.files.rows()
    size = smollm2_path.stat().st_size
    assert row.model.total_size == size and view.files.data(view.files.index(0, QUANT)) == "Q4_1"
    assert row.info is not None and row.info.n_layer == 30
    assert hub.bytes_served(SMOL, SMOL_FILE) < size // 20  # the header, not the weights
    assert row.words is not None and not row.words.approximate
    assert row.words.text == "CPU only"  # no GPU on this machine, none chosen
    assert "Verdicts for the CPU alone" in view.status.text()

    assert page.target.select(RTX_4060.uuid)
    assert view.files.rows()[0].words.text == "Full offload"  # type: ignore[union-attr]
    card = custom_card(int(1.75 * GiB))
    page.target.picker.add_custom(card.total_bytes)
    model = read_model(smollm2_path)
    inputs = page.target.inputs()
    expected = fit(model, inputs.load_for(model), gpu_free=card.free_bytes, margin=GiB)
    assert 0 < expected.n_gpu_layers < 31
    assert view.files.rows()[0].words.text == f"Partial: {expected.n_gpu_layers} of 31 layers"  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: "A small chat model." in view.card.toPlainText(), timeout=15_000)
    assert "license" not in view.card.toPlainText()  # the front matter is not shown


def test_a_repository_with_several_quantizations(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper
) -> None:
    page = open_page(qtbot, keeper)
    open_repo(qtbot, page, TINY)
    files = page.repo_view.files
    qtbot.waitUntil(lambda: headers_read(page), timeout=15_000)
    quants = [files.data(files.index(r, QUANT)) for r in range(files.rowCount())]
    assert quants == ["Q4_0", "Q4_1", "F16"]  # smallest first
    assert all(r.words is not None and not r.words.approximate for r in files.rows())
    assert [r.info.quantization for r in files.rows() if r.info] == ["Q4_0", "Q4_1", "F16"]
    assert set(page.repo_view.buttons.buttons) == {r.model.name for r in files.rows()}


def test_a_narrow_window_drops_the_file_names_not_the_buttons(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper
) -> None:
    page = open_page(qtbot, keeper)
    open_repo(qtbot, page, TINY)
    qtbot.waitUntil(lambda: headers_read(page), timeout=15_000)
    table = page.repo_view.table
    assert not table.isColumnHidden(NAME)  # 1200 px wide: names, quants, verdicts, buttons
    name = page.repo_view.files.rows()[0].model.name
    buttons = page.repo_view.buttons

    def in_sight() -> bool:  # both buttons on screen, no sideways scrolling
        return all(
            0 < b.mapTo(table.viewport(), b.rect().topRight()).x() <= table.viewport().width()
            for b in (buttons.buttons[name], buttons.compare_buttons[name])
        )

    page.resize(940, 600)  # the page in a 1024-pixel-wide window
    qtbot.waitUntil(lambda: table.isColumnHidden(NAME) and in_sight(), timeout=5000)
    files = page.repo_view.files
    tip = files.data(files.index(0, QUANT), Qt.ItemDataRole.ToolTipRole)
    assert page.repo_view.files.rows()[0].model.parts[0].filename in tip  # still findable
    page.resize(1200, 760)
    qtbot.waitUntil(lambda: not table.isColumnHidden(NAME), timeout=5000)


def test_a_gated_repository_says_what_the_hub_said(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper
) -> None:
    page = open_page(qtbot, keeper)
    open_repo(qtbot, page, GATED)
    view = page.repo_view
    qtbot.waitUntil(lambda: view.notice.isVisible(), timeout=15_000)
    assert view.notice.level == "warning"
    assert f"The repository '{GATED}' is gated" in view.notice.text()
    assert "log in" in view.notice.text() and "Settings" in view.notice.text()
    (row,) = view.files.rows()
    assert row.header_error is not None and "gated" in row.header_error
    assert row.words is not None and row.words.approximate and APPROX in row.words.text


def test_a_rate_limited_header_read_says_so_and_retries(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper
) -> None:
    page = open_page(qtbot, keeper)
    hub.rate_limit(2, reset_s=1, path_part=f"/{SMOL}/resolve/", style="retry-after")
    open_repo(qtbot, page, SMOL)
    view = page.repo_view
    qtbot.waitUntil(
        lambda: view.status.text() == "Rate-limited by Hugging Face, retrying in 1 s.",
        timeout=15_000,
    )
    qtbot.waitUntil(lambda: headers_read(page), timeout=15_000)
    (row,) = view.files.rows()
    assert row.info is not None and row.header_error is None
    assert [r.status for r in hub.requests_for(f"/{SMOL}/resolve/")].count(429) == 2


def test_a_rate_limited_file_list_and_card_count_down_instead_of_listing(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper
) -> None:
    page = open_page(qtbot, keeper)
    hub.rate_limit(1, reset_s=3, path_part=f"/api/models/{SMOL}")
    hub.rate_limit(1, reset_s=3, path_part=f"/{SMOL}/resolve/main/README.md")
    page.list.setCurrentIndex(page.results.index(page.results.repo_ids().index(SMOL), 0))
    view = page.repo_view
    qtbot.waitUntil(
        lambda: view.status.text() == "Rate-limited by Hugging Face, retrying in 2 s.",
        timeout=15_000,
    )
    qtbot.waitUntil(
        lambda: "Model card: Rate-limited by Hugging Face, retrying in" in view.card.toPlainText(),
        timeout=15_000,
    )
    qtbot.waitUntil(lambda: view.files.rowCount() > 0 and headers_read(page), timeout=15_000)
    assert len(view.files.rows()) == 1
    qtbot.waitUntil(lambda: "SmolLM2" in view.card.toPlainText(), timeout=15_000)
    assert "Rate-limited" not in view.status.text()


def test_incomplete_splits_and_files_that_are_not_models_get_no_verdict(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper, smollm2_path: Path
) -> None:
    repo = "tester/Mixed-GGUF"
    hub.add_repo(
        repo,
        {
            "Big-Q8_0-00001-of-00003.gguf": smollm2_path,  # part 2 is missing from the listing
            "Big-Q8_0-00003-of-00003.gguf": b"GGUF" * 8,
            "calibration.gguf": gguf_stub({"general.type": "imatrix"}, pad_to=4096),
            "Vision-7B-mmproj-model-f16.gguf": b"GGUF" * 8,
            SMOL_FILE: smollm2_path,
        },
        tags=["gguf"],
    )
    page = keeper.add(DiscoverPage(keeper.context))
    qtbot.addWidget(page)
    page.resize(1200, 760)
    page.show()
    qtbot.waitUntil(lambda: repo in page.results.repo_ids(), timeout=15_000)
    open_repo(qtbot, page, repo)
    view = page.repo_view
    qtbot.waitUntil(lambda: headers_read(page), timeout=15_000)
    files = view.files
    fit_text = {r.model.name: files.data(files.index(i, FIT)) for i, r in enumerate(files.rows())}
    assert fit_text["Big-Q8_0"] == "Incomplete: parts missing on the hub"
    assert fit_text["calibration"] == "Importance matrix (for quantizing, not a model)"
    assert fit_text["Vision-7B-mmproj-model-f16"] == "Vision projector (used with a model)"
    # the repository has a projector: the model's row says it comes with it
    assert fit_text[SMOL_FILE.removesuffix(".gguf")] == "CPU only  · + vision projector (32 B)"
    names = [r.model.name for r in files.rows()]
    assert names.index("Big-Q8_0") > names.index(SMOL_FILE.removesuffix(".gguf"))
    big = names.index("Big-Q8_0")
    assert files.data(files.index(big, SIZE)) == "? (parts missing)"
    assert files.data(files.index(big, FIT), Qt.ItemDataRole.DecorationRole) is None
    assert view.buttons.buttons["Big-Q8_0"].isHidden()
    assert not view.buttons.buttons["calibration"].isHidden()
    assert not any(r.path.endswith("00003-of-00003.gguf") for r in hub.requests_for("/resolve/"))


# -- verdict words -------------------------------------------------------------------------


def test_verdict_words(smollm2_path: Path) -> None:
    model = read_model(smollm2_path)
    roomy = FitInputs(gpu=None, defaults=LoadDefaults(), margin=GiB, ram_total=64 * GiB)
    assert roomy.words(model).text == "CPU only"
    tiny_ram = FitInputs(gpu=None, defaults=LoadDefaults(), margin=GiB, ram_total=64 * MiB)
    assert tiny_ram.words(model).text == TOO_LARGE
    assert tiny_ram.words(model).kind == "no_fit"
    assert tiny_ram.words_from_size(98 * MiB).text == f"{TOO_LARGE} ({APPROX})"
    on_4060 = FitInputs(gpu=RTX_4060, defaults=LoadDefaults(), margin=GiB, ram_total=64 * GiB)
    assert (on_4060.words(model).text, on_4060.words(model).kind) == ("Full offload", "fits")
    assert on_4060.words_from_size(98 * MiB).text == f"Full offload ({APPROX})"
    partial = on_4060.words_from_size(12 * GiB)
    assert partial.kind == "partial" and partial.text.startswith("Partial: about ")
    no_room = FitInputs(
        gpu=custom_card(int(1.2 * GiB)), defaults=LoadDefaults(), margin=GiB, ram_total=64 * GiB
    )
    assert no_room.words(model).text == "CPU only"
