"""The settings dialog: saves through the schema, refuses bad values in words, never blocks.

The Hugging Face account is checked against the local test hub on 127.0.0.1
with the real huggingface_hub client and token store (in a temporary HF_HOME).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_server import HubServer, isolate_hf_home
from PySide6.QtWidgets import QApplication, QFileDialog
from pytestqt.qtbot import QtBot

from lmdesk.core import paths
from lmdesk.core.cpu_threads import default_threads
from lmdesk.core.hub import account as hf_account
from lmdesk.core.settings import Settings, load_settings
from lmdesk.core.units import GiB, MiB
from lmdesk.ui.services.context import SettingsStore
from lmdesk.ui.shell.settings_dialog import SettingsDialog


@pytest.fixture
def dialog(qtbot: QtBot) -> SettingsDialog:
    dialog = SettingsDialog(SettingsStore())
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_dialog_shows_current_settings_and_is_not_modal(dialog: SettingsDialog) -> None:
    assert dialog.isVisible() and not dialog.isModal()
    assert QApplication.activeModalWidget() is None
    defaults = Settings()
    assert dialog.endpoint.text() == defaults.hf_endpoint
    assert dialog.margin.text() == "1.0 GiB"
    assert dialog.n_ctx.value() == defaults.load.n_ctx
    assert dialog.concurrency.maximum() == 8  # bounds come from the schema
    assert dialog.theme.currentText() == "system"
    assert dialog.account.text() == "Not logged in"


def test_save_writes_the_settings_file(dialog: SettingsDialog, qtbot: QtBot) -> None:
    dialog.margin.setText("1.5 GiB")
    dialog.concurrency.setValue(4)
    dialog.theme.setCurrentText("dark")
    dialog.n_ctx.setValue(8192)
    dialog.kv_type.setCurrentText("q8_0")
    dialog.flash.setCurrentText("On")
    dialog.threads.setValue(0)
    assert dialog.threads.text() == f"Auto ({default_threads().generation})"  # as the Load panel
    dialog.temperature.setValue(0.2)
    dialog.seed.setValue(-1)
    dialog.endpoint.setText("https://hf-mirror.example.org")
    with qtbot.waitSignal(dialog.saved, timeout=1000):
        dialog.save_button.click()
    assert not dialog.isVisible()
    saved = load_settings()
    assert saved.gpu_safety_margin_bytes == int(1.5 * GiB)
    assert saved.download_concurrency == 4 and saved.theme == "dark"
    assert (saved.load.n_ctx, saved.load.kv_type, saved.load.flash_attn) == (8192, "q8_0", True)
    assert saved.load.n_threads is None
    assert saved.sampling.temperature == pytest.approx(0.2)
    assert saved.sampling.seed == -1
    assert saved.hf_endpoint == "https://hf-mirror.example.org"
    on_disk = json.loads(paths.settings_path().read_text(encoding="utf-8"))
    assert on_disk["download_concurrency"] == 4


def test_bad_margin_is_explained_and_nothing_is_saved(dialog: SettingsDialog) -> None:
    dialog.margin.setText("lots")
    dialog.save_button.click()
    assert dialog.isVisible()
    assert dialog.message.isVisible()
    assert dialog.message.text().startswith("GPU safety margin: not a size: 'lots'")
    assert not paths.settings_path().exists()


def test_margin_out_of_bounds_names_the_setting(dialog: SettingsDialog) -> None:
    dialog.margin.setText("20 GiB")
    dialog.save_button.click()
    assert dialog.isVisible()
    assert "gpu_safety_margin_bytes must be between 0 and" in dialog.message.text()


def test_bad_endpoint_is_explained(dialog: SettingsDialog) -> None:
    dialog.endpoint.setText("ftp://example.org")
    dialog.save_button.click()
    assert dialog.isVisible()
    assert "hf_endpoint must be an http:// or https:// address" in dialog.message.text()
    dialog.endpoint.setText("http://127.0.0.1:9")
    dialog.save_button.click()
    assert not dialog.isVisible() and not dialog.message.isVisible()


def test_folder_pickers_fill_the_folders(
    dialog: SettingsDialog, qtbot: QtBot, tmp_path: Path
) -> None:
    models, extra = tmp_path / "models", tmp_path / "more"
    models.mkdir()
    extra.mkdir()
    dialog.models_dir.button.click()
    picker = dialog.models_dir.picker
    assert isinstance(picker, QFileDialog) and picker.isVisible()
    picker.setDirectory(str(tmp_path))
    picker.selectFile(str(models))
    picker.accept()
    assert dialog.models_dir.text == str(models)
    dialog._add_extra_dir()
    dialog.extra_picker.setDirectory(str(tmp_path))
    dialog.extra_picker.selectFile(str(extra))
    dialog.extra_picker.accept()
    dialog.save_button.click()
    saved = load_settings()
    assert saved.models_dir == str(models)
    assert saved.extra_model_dirs == (str(extra),)


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    isolate_hf_home(tmp_path, monkeypatch)
    with HubServer() as server:
        server.add_token("hf_lmdesk_test_token", "ada")
        yield server


def test_login_whoami_and_logout_against_the_hub(
    dialog: SettingsDialog, qtbot: QtBot, hub: HubServer
) -> None:
    dialog.endpoint.setText(hub.endpoint)
    dialog.token.setText("hf_lmdesk_test_token")
    dialog.login_button.click()
    qtbot.waitUntil(lambda: dialog.account.text() == "Logged in as ada", timeout=15000)
    assert dialog.token.text() == ""  # not left on screen
    assert hf_account.stored_token() == "hf_lmdesk_test_token"
    assert dialog.logout_button.isEnabled()

    # A new dialog asks the hub (the saved endpoint) who the stored token belongs to.
    again = SettingsDialog(SettingsStore(Settings(hf_endpoint=hub.endpoint)))
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again.account.text() == "Logged in as ada", timeout=15000)

    dialog.logout_button.click()
    qtbot.waitUntil(lambda: dialog.account.text() == "Not logged in", timeout=15000)
    assert hf_account.stored_token() is None
    dialog.wait(5)
    again.wait(5)


def test_rejected_token_is_explained(dialog: SettingsDialog, qtbot: QtBot, hub: HubServer) -> None:
    dialog.endpoint.setText(hub.endpoint)
    dialog.token.setText("hf_wrong")
    dialog.login_button.click()
    qtbot.waitUntil(lambda: dialog.message.isVisible(), timeout=15000)
    assert dialog.message.text().startswith("Hugging Face: ")
    assert dialog.account.text() == "Not logged in"
    assert hf_account.stored_token() is None
    dialog.wait(5)


def test_login_uses_huggingface_hub_login_for_its_own_endpoint(
    hub: HubServer, tmp_path: Path
) -> None:
    """huggingface_hub.login checks the token at the endpoint it was imported with: a subprocess."""
    env = {**os.environ, "HF_ENDPOINT": hub.endpoint}
    code = (
        "import os; from lmdesk.core.hub.account import log_in, stored_token;"
        "print(log_in('hf_lmdesk_test_token', endpoint=os.environ['HF_ENDPOINT']));"
        "print(stored_token())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ada", "hf_lmdesk_test_token"]
    assert (Path(env["HF_HOME"]) / "token").read_text().strip() == "hf_lmdesk_test_token"


def test_saving_tells_the_store_listeners(dialog: SettingsDialog, qtbot: QtBot) -> None:
    store = dialog._store
    dialog.margin.setText("512 MiB")
    with qtbot.waitSignal(store.changed, timeout=1000) as changed:
        dialog.save_button.click()
    assert changed.args[0].gpu_safety_margin_bytes == 512 * MiB
    assert store.settings.gpu_safety_margin_bytes == 512 * MiB
