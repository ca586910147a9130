"""Settings → Remote servers, real widgets offscreen, against ``lmdesk serve`` on 127.0.0.1:
Add checks the address, Test lists the models or says why not, Save keeps the list in the
settings file (the key in plain text, as README says), Remove takes one out."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from remote_servers import RunningServer, free_port, lmdesk_serve

from lmdesk.core import paths
from lmdesk.core.settings import Settings, load_settings
from lmdesk.ui.services.context import SettingsStore
from lmdesk.ui.shell.settings_dialog import SettingsDialog


@pytest.fixture(scope="module")
def desk(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with lmdesk_serve(smollm2_path, key="k3y", tmp=tmp_path_factory.mktemp("desk")) as server:
        yield server


def _fill(dialog: SettingsDialog, name: str, url: str, key: str = "") -> None:
    tab = dialog.remote
    tab.name.setText(name)
    tab.base_url.setText(url)
    tab.key.setText(key)


def _tested(qtbot: QtBot, dialog: SettingsDialog) -> str:
    dialog.remote.test_button.click()
    qtbot.waitUntil(dialog.remote.test_button.isEnabled, timeout=30_000)
    return dialog.remote.result.text()


def test_add_test_save_and_remove_a_server(qtbot: QtBot, desk: RunningServer) -> None:
    dialog = SettingsDialog(SettingsStore(Settings()))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.tabs.setCurrentWidget(dialog.remote)
    tab = dialog.remote
    assert tab.key.echoMode() == tab.key.EchoMode.Password

    _fill(dialog, "Desk", "localhost:1234")
    tab.add_button.click()
    assert "is not a server address" in tab.result.text() and tab.list.count() == 0

    _fill(dialog, "Desk", desk.base_url, "wrong")
    assert "Desk refused the API key (401)" in _tested(qtbot, dialog)
    _fill(dialog, "Desk", desk.base_url, "k3y")
    assert _tested(qtbot, dialog) == f"Desk answers with 1 model: {desk.model_id}."
    tab.add_button.click()
    assert tab.list.count() == 1 and tab.list.item(0).text().endswith("· key set")
    assert "k3y" not in tab.list.item(0).text()

    _fill(dialog, "Nowhere", f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    assert "Nowhere cannot be reached" in _tested(qtbot, dialog)
    assert time.monotonic() - started < 10
    tab.add_button.click()
    assert tab.list.count() == 2
    dialog.grab().save("/tmp/remote_settings_dialog.png")

    dialog.save()
    saved = json.loads(paths.settings_path().read_text())["remote_servers"]
    assert saved[0] == {"name": "Desk", "base_url": desk.base_url, "api_key": "k3y"}
    assert [s["name"] for s in load_settings().remote_servers] == ["Desk", "Nowhere"]

    again = SettingsDialog(SettingsStore(load_settings()))
    qtbot.addWidget(again)
    assert again.remote.list.count() == 2
    again.remote.list.setCurrentRow(1)
    assert again.remote.name.text() == "Nowhere"
    again.remote.remove_button.click()
    again.save()
    assert [s["name"] for s in load_settings().remote_servers] == ["Desk"]
