"""Downloads against the real local hub: the queue's rows, their buttons, faults on the wire.

Bytes really travel over HTTP from tests/hub_server.py into a temporary models folder;
faults (a stall, a cut connection, a wrong sha256) are injected by the hub.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import replace
from pathlib import Path

from hub_server import Fault, HubServer
from model_pages import (
    BLOB,
    BLOB_DATA,
    BLOB_FILE,
    SMOL,
    SMOL_FILE,
    PageKeeper,
    hub_fixture,  # noqa: F401 - the `hub` fixture
    keeper_fixture,  # noqa: F401 - the `keeper` fixture
)
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from lmdesk.core.downloads import JobSnapshot, JobState
from lmdesk.core.units import KiB, MiB
from lmdesk.ui.kit.download_text import format_eta, status_line
from lmdesk.ui.pages.discover.page import DiscoverPage
from lmdesk.ui.pages.downloads.jobs_model import DownloadsModel
from lmdesk.ui.pages.downloads.page import DownloadsPage
from lmdesk.ui.pages.library.library_model import FIT, SOURCE
from lmdesk.ui.pages.library.page import LibraryPage
from lmdesk.ui.services.downloads import download_service

BLOB_ID = f"{BLOB}/{BLOB_FILE}"


def downloads_page(qtbot: QtBot, keeper: PageKeeper) -> DownloadsPage:
    page = keeper.add(DownloadsPage(keeper.context))
    qtbot.addWidget(page)
    page.resize(1000, 700)
    page.show()
    return page


def state_of(page: DownloadsPage, job_id: str) -> JobState | None:
    row = page.rows.get(job_id)
    return row.snapshot.state if row is not None else None


def resolve_gets(hub: HubServer, filename: str) -> list[str | None]:
    """The Range header of every GET of `filename`'s bytes (from the CDN, or the hub itself)."""
    shas = {
        f.sha256 for repo in hub.repos.values() for f in repo.files.values() if f.path == filename
    }
    return [
        r.headers.get("range")
        for r in hub.log
        if r.method == "GET"
        and r.status in (200, 206)
        and (r.path.endswith(f"/{filename}") or r.path.split("?")[0].rsplit("/", 1)[-1] in shas)
    ]


def snapshot(state: JobState, done: int, total: int | None, **changes: object) -> JobSnapshot:
    values: dict[str, object] = {
        "job_id": "a/b/c.gguf",
        "repo_id": "a/b",
        "filename": "c.gguf",
        "state": state,
        "bytes_done": done,
        "total": total,
        "speed_bps": 0.0,
        "eta_s": None,
        "message": "",
        "attempt": 0,
        "path": Path("/m/a/b/c.gguf"),
    }
    values.update(changes)
    return JobSnapshot(**values)  # type: ignore[arg-type]


def test_the_queue_model_passes_the_model_tester(qtmodeltester: object) -> None:
    model = DownloadsModel()
    model.update(snapshot(JobState.RUNNING, 5 * MiB, 10 * MiB))
    model.update(snapshot(JobState.DONE, 10 * MiB, 10 * MiB, job_id="x/y/z.gguf"))
    model.update(snapshot(JobState.RUNNING, 6 * MiB, 10 * MiB))
    qtmodeltester.check(model)  # type: ignore[attr-defined]
    assert model.rowCount() == 2 and model.snapshot(0).bytes_done == 6 * MiB
    assert model.remove_finished() == 1 and model.rowCount() == 1


def test_status_lines() -> None:
    running = snapshot(JobState.RUNNING, 45 * MiB, 90 * MiB, speed_bps=9 * MiB, eta_s=5.2)
    assert status_line(running) == "45.0 MiB of 90.0 MiB · 9.0 MiB/s · 5 s left · Downloading"
    stalled = snapshot(JobState.RUNNING, 45 * MiB, 90 * MiB, speed_bps=0.0)
    assert status_line(stalled) == "45.0 MiB of 90.0 MiB · 0 B/s · Downloading"
    failed = snapshot(JobState.FAILED, MiB, 90 * MiB, message="The disk is full.")
    assert status_line(failed) == "1.0 MiB of 90.0 MiB · Failed: The disk is full."
    assert status_line(snapshot(JobState.DONE, 90 * MiB, 90 * MiB, message="Saved to /m")) == (
        "90.0 MiB · Done"
    )
    assert (format_eta(75), format_eta(3 * 3600 + 120)) == ("1 min 15 s left", "3 h 2 min left")


def test_download_from_discover_shows_progress_then_lands_in_my_models(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper, smollm2_path: Path
) -> None:
    context = keeper.context
    hub.set_fault(Fault(throttle_bps=40 * MiB), repo_id=SMOL, filename=SMOL_FILE)
    discover = keeper.add(DiscoverPage(context))
    downloads = downloads_page(qtbot, keeper)
    library = keeper.add(LibraryPage(context, scan_options={"lm_studio": []}))
    for page in (discover, library):
        qtbot.addWidget(page)
    qtbot.waitUntil(lambda: library.scanner.scans == 1 and not library.scanner.busy)
    assert library.model.rowCount() == 0
    statuses: list[tuple[int, float]] = []
    context.signals.downloads_changed.connect(lambda n, pct: statuses.append((n, pct)))
    qtbot.waitUntil(lambda: SMOL in discover.results.repo_ids(), timeout=15_000)
    discover.list.setCurrentIndex(
        discover.results.index(discover.results.repo_ids().index(SMOL), 0)
    )
    qtbot.waitUntil(lambda: discover.repo_view.files.rowCount() == 1, timeout=15_000)
    button = discover.repo_view.buttons.buttons["SmolLM2-135M-Instruct.Q4_1"]
    assert button.text() == "Download"

    job_id = f"{SMOL}/{SMOL_FILE}"
    values: list[int] = []
    texts: list[str] = []
    with qtbot.waitSignal(context.signals.models_changed, timeout=30_000):
        button.click()
        qtbot.waitUntil(lambda: job_id in downloads.rows, timeout=5_000)
        row = downloads.row(job_id)
        row.bar.valueChanged.connect(values.append)
        qtbot.waitUntil(lambda: "MiB of 93.8 MiB" in row.status.text(), timeout=10_000)
        texts.append(row.status.text())
        assert button.text().startswith("Downloading")

    qtbot.waitUntil(lambda: state_of(downloads, job_id) is JobState.DONE)
    assert any(0 < v < 1000 for v in values) and values[-1] == 1000
    assert "MiB/s" in texts[-1] and "left" in texts[-1]
    assert row.status.text() == "93.8 MiB · Done" and row.buttons["show"].isVisible()
    assert any(n == 1 and 0 < pct < 100 for n, pct in statuses) and statuses[-1] == (0, 0.0)
    assert button.text() == "Downloaded ✓" and not button.isEnabled()
    target = context.settings.models_dir() / SMOL / SMOL_FILE
    assert target.stat().st_size == smollm2_path.stat().st_size

    qtbot.waitUntil(lambda: library.model.rowCount() == 1, timeout=15_000)
    entry = library.model.entry(0)
    assert entry.path == target and entry.is_ok and entry.model is not None
    assert library.model.data(library.model.index(0, SOURCE)) == "lmdesk"
    assert library.model.data(library.model.index(0, FIT)) == "CPU only"


def test_pause_and_resume_through_the_buttons(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper
) -> None:
    hub.set_fault(Fault(stall_after=2 * MiB, times=1), repo_id=BLOB, filename=BLOB_FILE)
    page = downloads_page(qtbot, keeper)
    page.service.manager.add(BLOB, BLOB_FILE)
    qtbot.waitUntil(lambda: BLOB_ID in page.rows)
    row = page.row(BLOB_ID)
    qtbot.waitUntil(lambda: row.snapshot.bytes_done == 2 * MiB, timeout=10_000)
    qtbot.waitUntil(lambda: row.snapshot.speed_bps == 0.0, timeout=10_000)  # stalled: 0 B/s
    assert row.buttons["pause"].isVisible() and not row.buttons["resume"].isVisible()
    row.buttons["pause"].click()
    qtbot.waitUntil(lambda: state_of(page, BLOB_ID) is JobState.PAUSED, timeout=10_000)
    assert row.buttons["resume"].isVisible() and not row.buttons["pause"].isVisible()
    assert row.status.text() == "2.0 MiB of 6.0 MiB · Paused"
    assert row.bar.value() == 333
    hub.clear_faults()
    row.buttons["resume"].click()
    qtbot.waitUntil(lambda: state_of(page, BLOB_ID) is JobState.DONE, timeout=15_000)
    assert resolve_gets(hub, BLOB_FILE) == [None, f"bytes={2 * MiB}-"]  # went on from 2 MiB
    path = page.service.snapshot(BLOB_ID).path  # type: ignore[union-attr]
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(BLOB_DATA).digest()


def test_a_cut_connection_resumes_by_itself(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper
) -> None:
    hub.set_fault(Fault(cut_after=1536 * KiB, times=1), repo_id=BLOB, filename=BLOB_FILE)
    page = downloads_page(qtbot, keeper)
    page.service.manager.add(BLOB, BLOB_FILE)
    qtbot.waitUntil(lambda: state_of(page, BLOB_ID) is JobState.DONE, timeout=15_000)
    gets = resolve_gets(hub, BLOB_FILE)
    assert gets[0] is None and len(gets) == 2 and gets[1] is not None
    assert int(gets[1].removeprefix("bytes=").rstrip("-")) > 0  # resumed, not restarted
    assert page.row(BLOB_ID).status.text() == "6.0 MiB · Done"


def test_a_checksum_mismatch_is_shown_in_the_row_and_retry_fixes_it(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper
) -> None:
    hub.set_fault(Fault(wrong_sha256=True), repo_id=BLOB, filename=BLOB_FILE)
    page = downloads_page(qtbot, keeper)
    page.service.manager.add(BLOB, BLOB_FILE)
    qtbot.waitUntil(lambda: state_of(page, BLOB_ID) is JobState.FAILED, timeout=15_000)
    row = page.row(BLOB_ID)
    assert "Failed:" in row.status.text() and "sha256" in row.status.text()
    assert "#ef4444" in row.status.styleSheet()
    assert row.buttons["retry"].isVisible() and not row.buttons["pause"].isVisible()
    hub.clear_faults()
    row.buttons["retry"].click()
    qtbot.waitUntil(lambda: state_of(page, BLOB_ID) is JobState.DONE, timeout=15_000)


def test_cancel_removes_the_partial_and_clear_finished_empties_the_list(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper
) -> None:
    hub.set_fault(Fault(stall_after=MiB, times=1), repo_id=BLOB, filename=BLOB_FILE)
    page = downloads_page(qtbot, keeper)
    assert page.empty.isVisible()
    page.service.manager.add(BLOB, BLOB_FILE)
    qtbot.waitUntil(lambda: BLOB_ID in page.rows and page.row(BLOB_ID).snapshot.bytes_done == MiB)
    assert not page.empty.isVisible()
    page.row(BLOB_ID).buttons["cancel"].click()
    qtbot.waitUntil(lambda: state_of(page, BLOB_ID) is JobState.CANCELLED, timeout=10_000)
    partials = keeper.context.settings.models_dir() / ".partial"
    assert not any(p.is_file() for p in partials.rglob("*"))
    page.clear_button.click()
    assert page.rows == {} and page.empty.isVisible()
    hub.clear_faults()


def test_the_service_is_shared_through_the_context(keeper: PageKeeper) -> None:
    service = download_service(keeper.context)
    assert service is keeper.context.extras["downloads"]
    assert download_service(keeper.context, concurrency=5) is service  # created once


def download_threads() -> int:
    return sum(
        1
        for t in threading.enumerate()
        if t.name.startswith("download-") and t.name != "download-ticker" and t.is_alive()
    )


def test_a_new_server_and_concurrency_apply_at_once_and_the_running_download_goes_on(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper
) -> None:
    store = keeper.context.settings
    hub.set_fault(Fault(stall_after=2 * MiB, times=1), repo_id=BLOB, filename=BLOB_FILE)
    page = downloads_page(qtbot, keeper)
    old = page.service.manager
    assert download_threads() == store.settings.download_concurrency == 2
    old.add(BLOB, BLOB_FILE)
    qtbot.waitUntil(lambda: page.row(BLOB_ID).snapshot.bytes_done == 2 * MiB, timeout=10_000)
    with HubServer() as other:
        other.add_repo(SMOL, {SMOL_FILE: BLOB_DATA})
        store.save(replace(store.settings, hf_endpoint=other.endpoint, download_concurrency=3))
        new = page.service.manager
        assert new is not old and new.settings.endpoint == other.endpoint
        assert download_threads() == 3  # the old workers were joined
        hub.clear_faults()
        qtbot.waitUntil(lambda: state_of(page, BLOB_ID) is JobState.DONE, timeout=15_000)
        assert resolve_gets(hub, BLOB_FILE) == [None, f"bytes={2 * MiB}-"]  # nothing twice
        late = replace(page.service.snapshot(BLOB_ID), state=JobState.PAUSED)  # type: ignore[type-var]
        assert old._on_update is not None
        old._on_update(late)  # a report the stopped queue sent late: it must not win
        qtbot.wait(50)
        assert state_of(page, BLOB_ID) is JobState.DONE
        new.add(SMOL, SMOL_FILE)  # a new download asks the new server
        job_id = f"{SMOL}/{SMOL_FILE}"
        qtbot.waitUntil(lambda: state_of(page, job_id) is JobState.DONE, timeout=15_000)
        assert other.bytes_served(SMOL, SMOL_FILE) == len(BLOB_DATA)
        assert hub.bytes_served(SMOL, SMOL_FILE) == 0
    assert page.folder.text().endswith("models")


def test_a_new_models_folder_waits_for_the_running_download(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper, tmp_path: Path
) -> None:
    store = keeper.context.settings
    first = store.models_dir()
    hub.set_fault(Fault(stall_after=2 * MiB, times=1), repo_id=BLOB, filename=BLOB_FILE)
    page = downloads_page(qtbot, keeper)
    old = page.service.manager
    old.add(BLOB, BLOB_FILE)
    qtbot.waitUntil(lambda: page.row(BLOB_ID).snapshot.bytes_done == 2 * MiB, timeout=10_000)
    second = tmp_path / "elsewhere"
    with qtbot.waitSignal(page.service.sig_folder_changed, timeout=20_000) as moved:
        store.save(replace(store.settings, models_dir=str(second)))
        assert page.service.manager is old  # its partial file lives in the first folder
        assert "elsewhere" not in page.folder.text()
        hub.clear_faults()
    assert moved.args == [second]
    assert page.service.snapshot(BLOB_ID).path == first / BLOB / BLOB_FILE  # type: ignore[union-attr]
    assert (first / BLOB / BLOB_FILE).stat().st_size == len(BLOB_DATA)
    assert page.service.manager is not old
    assert page.service.manager.layout.final_path(SMOL, SMOL_FILE).is_relative_to(second)
    assert page.folder.text().endswith("elsewhere")


def test_retry_of_a_job_from_an_earlier_queue_adds_it_again(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper
) -> None:
    store = keeper.context.settings
    hub.set_fault(Fault(wrong_sha256=True), repo_id=BLOB, filename=BLOB_FILE)
    page = downloads_page(qtbot, keeper)
    page.service.manager.add(BLOB, BLOB_FILE)
    qtbot.waitUntil(lambda: state_of(page, BLOB_ID) is JobState.FAILED, timeout=15_000)
    page.row(BLOB_ID).buttons["cancel"].click()  # cancelled: no partial, no sidecar left
    qtbot.waitUntil(lambda: state_of(page, BLOB_ID) is JobState.CANCELLED, timeout=10_000)
    store.save(replace(store.settings, download_concurrency=1))  # a new queue
    assert BLOB_ID not in {s.job_id for s in page.service.manager.jobs()}
    hub.clear_faults()
    page.row(BLOB_ID).buttons["retry"].click()
    qtbot.waitUntil(lambda: state_of(page, BLOB_ID) is JobState.DONE, timeout=15_000)


def test_a_model_with_a_projector_is_downloaded_with_it_and_my_models_says_it_sees(
    qtbot: QtBot, hub: HubServer, keeper: PageKeeper, smollm2_path: Path, tmp_path: Path
) -> None:
    from mmproj_factory import write_mmproj

    from lmdesk.ui.pages.discover.files_model import FIT as FIT_COLUMN
    from lmdesk.ui.pages.discover.files_model import NAME
    from lmdesk.ui.pages.library.library_model import NAME as LIBRARY_NAME

    repo = "tester/SmolVLM-GGUF"
    own = write_mmproj(tmp_path / "own.gguf", text_embd=576)
    hub.add_repo(
        repo,
        {
            SMOL_FILE: smollm2_path,
            "mmproj-SmolVLM-f16.gguf": own,
            "mmproj-SmolVLM-bf16.gguf": write_mmproj(tmp_path / "b.gguf", text_embd=576),
        },
        tags=["gguf"],
    )
    context = keeper.context
    discover = keeper.add(DiscoverPage(context))
    library = keeper.add(LibraryPage(context, scan_options={"lm_studio": []}))
    for page in (discover, library):
        qtbot.addWidget(page)
    qtbot.waitUntil(lambda: library.scanner.scans == 1 and not library.scanner.busy)
    qtbot.waitUntil(lambda: repo in discover.results.repo_ids(), timeout=15_000)
    discover.list.setCurrentIndex(
        discover.results.index(discover.results.repo_ids().index(repo), 0)
    )
    files = discover.repo_view.files
    qtbot.waitUntil(lambda: files.rowCount() == 3, timeout=15_000)
    model_row = next(i for i, r in enumerate(files.rows()) if r.model.filename == SMOL_FILE)
    size = own.stat().st_size / MiB
    qtbot.waitUntil(lambda: files.rows()[model_row].info is not None, timeout=15_000)
    assert files.data(files.index(model_row, FIT_COLUMN)) == (
        f"CPU only  · + vision projector ({size:.1f} MiB)"
    )
    tip = files.data(files.index(model_row, NAME), Qt.ItemDataRole.ToolTipRole)
    assert "mmproj-SmolVLM-f16.gguf: the pair is needed" in tip
    if (shots := os.environ.get("LMDESK_SHOTS")) is not None:
        discover.resize(1200, 700)
        discover.grab().save(str(Path(shots) / "discover_pair.png"))

    with qtbot.waitSignal(context.signals.models_changed, timeout=30_000):
        discover.repo_view.buttons.buttons["SmolLM2-135M-Instruct.Q4_1"].click()
    folder = context.settings.models_dir() / repo
    qtbot.waitUntil(lambda: (folder / "mmproj-SmolVLM-f16.gguf").is_file(), timeout=30_000)
    assert not (folder / "mmproj-SmolVLM-bf16.gguf").exists()  # one projector is enough
    qtbot.waitUntil(lambda: library.model.rowCount() == 1, timeout=15_000)
    qtbot.waitUntil(lambda: library.model.entry(0).sees_images, timeout=15_000)
    entry = library.model.entry(0)
    assert entry.projector == folder / "mmproj-SmolVLM-f16.gguf"
    name = library.model.data(library.model.index(0, LIBRARY_NAME))
    assert name == f"{entry.name}  · vision"
