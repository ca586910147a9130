"""A damaged download resume file is skipped and reported; the other downloads still resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from model_pages import PageKeeper
from model_pages import hub_fixture as hub_fixture
from model_pages import keeper_fixture as keeper_fixture
from pytestqt.qtbot import QtBot

from lmdesk.core.downloads import DownloadManager
from lmdesk.core.downloads.paths import Layout
from lmdesk.core.downloads.sidecar import DamagedSidecar, PartialState
from lmdesk.ui.pages.downloads.page import DownloadsPage
from lmdesk.ui.services.errors import error_bridge


def _sidecars(models_dir: Path) -> tuple[Path, Path]:
    layout = Layout(models_dir)
    good = PartialState("someone/Good-GGUF", "good.gguf", "main", user_paused=True)
    good_path = layout.sidecar_path(good.repo_id, good.filename)
    good.save(good_path)
    bad_path = layout.sidecar_path("someone/Bad-GGUF", "bad.gguf")
    bad_path.parent.mkdir(parents=True)
    payload = {"version": 1, "repo_id": "someone/Bad-GGUF", "filename": 42, "revision": "main"}
    bad_path.write_text(json.dumps(payload))
    return good_path, bad_path


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"filename": 42}, "filename is int"),
        ({"bytes_done": "12"}, "bytes_done is str"),
        ({"size": True}, "size is bool"),
        ({"user_paused": None}, "user_paused is NoneType"),
        ({"bytes_done": -1}, "negative"),
        ({"filename": None}, "filename is NoneType"),
    ],
)
def test_a_damaged_field_names_the_file_and_the_field(
    tmp_path: Path, changes: dict[str, object], says: str
) -> None:
    path = tmp_path / "x.gguf.partial.json"
    values = {"version": 1, "repo_id": "a/b", "filename": "c.gguf", "revision": "main"}
    path.write_text(json.dumps(values | changes))
    with pytest.raises(DamagedSidecar) as caught:
        PartialState.read(path)
    assert str(path) in str(caught.value) and says in str(caught.value)
    assert PartialState.load(path) is None


def test_the_queue_starts_with_the_sound_partials_and_reports_the_damaged_one(
    tmp_path: Path,
) -> None:
    models = tmp_path / "models"
    _, bad_path = _sidecars(models)
    manager = DownloadManager(models, endpoint="http://127.0.0.1:9", concurrency=1)
    try:
        assert [job.filename for job in manager.jobs()] == ["good.gguf"]
        assert manager.skipped == [f"the resume file {bad_path} is damaged: filename is int"]
        assert bad_path.exists()  # reported, never deleted behind the person's back
    finally:
        manager.close()


def test_the_downloads_page_opens_and_says_what_was_skipped(
    qtbot: QtBot, keeper: PageKeeper
) -> None:
    models = keeper.context.settings.models_dir()
    _, bad_path = _sidecars(models)
    with qtbot.waitSignal(error_bridge().sig_error, timeout=5000) as reported:
        page = keeper.add(DownloadsPage(keeper.context))  # starts the queue: it finds the partials
    qtbot.addWidget(page)
    manager = page.service.manager
    assert str(bad_path) in reported.args[0] and reported.args[2] == "warning"
    assert [job.filename for job in manager.jobs()] == ["good.gguf"]
    qtbot.waitUntil(lambda: "someone/Good-GGUF/good.gguf" in page.rows)
