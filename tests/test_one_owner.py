"""One owner for each concept, checked where the concepts meet: whole paths through the app.

The settings (one store, one writer), the loaded model (the context's `ModelHost`, not a
page), the rule for a model nobody chose settings for (`core.load_plan`), and the memory a
card offers (`GpuInfo.usable_bytes`) are each asked through every door that reaches them.
NVML is the stand-in here (recorded readings), as this machine has no NVIDIA GPU.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from shell_helpers import place_model, recorded_probe, standin_feed

from lmdesk.cli.main import main as cli_main
from lmdesk.core.estimate import Fit, FitInputs
from lmdesk.core.gguf import read_model
from lmdesk.core.gpus import GpuProbe
from lmdesk.core.library import LibraryEntry
from lmdesk.core.load_plan import lighter_settings, plan_load, settings_for
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.settings import LoadDefaults, Settings, load_settings
from lmdesk.core.units import GiB, MiB
from lmdesk.ui.kit.offload import OffloadPanel
from lmdesk.ui.pages.chat.page import ChatPage
from lmdesk.ui.pages.library.actions import plan_load as library_plan_load
from lmdesk.ui.pages.library.page import LibraryPage
from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore
from lmdesk.ui.shell import window_state
from lmdesk.ui.shell.main_window import MainWindow
from lmdesk.ui.shell.settings_dialog import SettingsDialog

FAST = LoadDefaults(n_ctx=1024, n_batch=256, n_ubatch=256, n_threads=1)
"""One thread and a short context: the machine's two cores are shared by several runs."""


@pytest.fixture
def window_on_my_models(qtbot: QtBot, smollm2_path: Path) -> Iterator[MainWindow]:
    """The app as a person left it on My Models: the chat page is not built at start."""
    from PySide6.QtWidgets import QWidget

    window_state.save_window_state(QWidget(), "library")
    context = AppContext(settings=SettingsStore(Settings(load=FAST)), signals=AppSignals())
    place_model(context.settings.models_dir(), smollm2_path)
    window = MainWindow(context, gpu_feed=standin_feed())
    qtbot.addWidget(window)
    window.show()
    yield window
    window.close()


def test_my_models_load_reaches_the_engine_when_the_chat_page_was_never_built(
    qtbot: QtBot, window_on_my_models: MainWindow
) -> None:
    window = window_on_my_models
    assert window.current_page == "library" and "chat" not in window.pages
    library = window.pages["library"]
    assert isinstance(library, LibraryPage)
    qtbot.waitUntil(lambda: library.scanner.scans >= 1 and not library.scanner.busy, timeout=15_000)
    path = window.context.settings.models_dir() / "HuggingFaceTB"
    model_file = next(path.rglob("*.gguf"))
    library.select_path(model_file)

    with qtbot.waitSignal(window.models.controller.loaded, timeout=60_000) as loaded:
        library.load_button.click()

    assert Path(loaded.args[0].path) == model_file
    assert window.current_page == "chat"
    chat = window.pages["chat"]
    assert isinstance(chat, ChatPage) and chat.controller is window.models.controller
    qtbot.waitUntil(lambda: chat.session.can_reply() is None, timeout=10_000)
    assert chat.offload.model() is not None  # the Load panel shows the loaded model
    assert chat.offload.load_button.text() == "Loaded ✓"


def test_a_chat_page_built_after_the_load_shows_the_loaded_model(
    qtbot: QtBot, window_on_my_models: MainWindow, smollm2_path: Path
) -> None:
    window = window_on_my_models
    with qtbot.waitSignal(window.models.controller.loaded, timeout=60_000):
        window.context.signals.load_model_requested.emit(str(smollm2_path), None)
    assert "chat" not in window.pages
    window.show_page("chat")
    chat = window.pages["chat"]
    assert isinstance(chat, ChatPage)
    assert chat.session.can_reply() is None
    assert chat.composer.edit.placeholderText().startswith("Message ")


def test_saving_settings_keeps_a_load_setting_remembered_a_moment_before(
    qtbot: QtBot, smollm2_path: Path
) -> None:
    store = SettingsStore(Settings())
    panel = OffloadPanel(store)
    qtbot.addWidget(panel)
    panel.set_model(read_model(smollm2_path), str(smollm2_path))
    panel.controls.layers.setValue(5)  # the person drags the slider
    qtbot.waitUntil(lambda: store.settings.remembered(str(smollm2_path)) is not None, timeout=5000)

    dialog = SettingsDialog(store)
    qtbot.addWidget(dialog)
    dialog.save()  # the Settings dialog, saved after the drag

    assert store.settings.remembered(str(smollm2_path)).n_gpu_layers == 5  # type: ignore[union-attr]
    on_disk = load_settings().remembered(str(smollm2_path))
    assert on_disk is not None and on_disk.n_gpu_layers == 5


def test_every_door_loads_a_model_nobody_chose_settings_for_the_same_way(
    qtbot: QtBot, smollm2_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    defaults = LoadDefaults(n_ctx=32768, kv_type="q8_0", flash_attn=False, n_threads=1)
    store = SettingsStore(Settings())
    store.save(Settings(load=defaults))  # the file too: the CLI reads it
    settings = store.settings
    model = read_model(smollm2_path)
    rule = settings_for(model, smollm2_path, settings, gpu=None)
    key = (rule.n_gpu_layers, rule.n_ctx, rule.type_k, rule.type_v, rule.flash_attn)
    # capped at the trained 8192; q8_0 V cache with flash off is refused by llama.cpp: Auto
    assert key == (0, 8192, "q8_0", "q8_0", None)

    def key_of(s: LoadSettings) -> tuple[object, ...]:
        return (s.n_gpu_layers, s.n_ctx, s.type_k, s.type_v, s.flash_attn)

    panel = OffloadPanel(store)  # the Load panel, no GPU
    qtbot.addWidget(panel)
    panel.set_model(model, str(smollm2_path))
    assert key_of(panel.settings()) == key
    entry = LibraryEntry(
        path=smollm2_path, parts=(smollm2_path,), source="lmdesk", size=model.file_size, model=model
    )
    inputs = FitInputs(gpu=None, defaults=defaults, margin=GiB, ram_total=64 * GiB)
    assert key_of(library_plan_load(entry, settings, inputs, None)) == key  # My Models
    assert key_of(plan_load(smollm2_path, settings=settings, probe=None, build=None)) == key
    assert cli_main(["estimate", str(smollm2_path), "--gpu-layers", "0", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["settings"]
    assert (shown["n_ctx"], shown["type_k"], shown["flash_attn"]) == (8192, "q8_0", "auto")

    # With a card, the panel's Auto and the rule fit the same number of layers.
    probe = recorded_probe("one_gpu_rtx4060")()
    other = OffloadPanel(SettingsStore(Settings(load=defaults)))
    qtbot.addWidget(other)
    other.set_gpus(probe)
    other.set_model(model, str(smollm2_path))
    fitted = settings_for(model, smollm2_path, settings, gpu=probe.gpus[0])
    assert other.settings().n_gpu_layers == fitted.n_gpu_layers == model.n_layer + 1


def test_the_verdicts_and_the_panel_count_the_same_gpu_memory_with_a_model_loaded(
    qtbot: QtBot, smollm2_path: Path
) -> None:
    """lmdesk holds 6.5 GiB of an 8 GiB card: free memory says 1 GiB, a reload can use 7.5."""
    card = replace(
        recorded_probe("one_gpu_rtx4060")().gpus[0],
        total_bytes=8 * GiB,
        free_bytes=1 * GiB,
        used_bytes=7 * GiB,
        used_by_others_bytes=512 * MiB,
    )
    assert card.usable_bytes == 7 * GiB + 512 * MiB
    model = read_model(smollm2_path)
    words = FitInputs(gpu=card, defaults=LoadDefaults(), margin=GiB, ram_total=64 * GiB)
    assert words.words(model).kind == Fit.FITS.value  # Discover and My Models
    panel = OffloadPanel(SettingsStore(Settings()))
    qtbot.addWidget(panel)
    panel.set_gpus(GpuProbe(gpus=(card,)))
    panel.set_model(model, str(smollm2_path))
    assert panel.settings().n_gpu_layers == model.n_layer + 1
    assert panel.current_verdict().fit is Fit.FITS  # the Load panel


def test_an_out_of_memory_load_offers_less() -> None:
    settings = LoadSettings(n_gpu_layers=-1, n_ctx=4096)
    label, fewer = lighter_settings(settings, n_layer=31, n_ctx_train=8192)  # type: ignore[misc]
    assert (label, fewer.n_gpu_layers) == ("Try with 24 GPU layers", 24)
    label, shorter = lighter_settings(  # type: ignore[misc]
        LoadSettings(n_ctx=1 << 20), n_layer=31, n_ctx_train=8192
    )
    assert (label, shorter.n_ctx) == ("Try a context of 8,192 tokens", 8192)
    assert lighter_settings(LoadSettings(n_ctx=512), n_layer=31, n_ctx_train=8192) is None


def test_a_remembered_thread_count_reaches_every_door(smollm2_path: Path) -> None:
    """The panel remembers CPU threads per model; My Models and the start-up read them too."""
    from lmdesk.core.load_plan import to_remembered

    chosen = LoadSettings(n_ctx=2048, n_threads=1)
    settings = Settings().remember(str(smollm2_path), to_remembered(chosen, gpu=None))
    load = plan_load(smollm2_path, settings=settings, probe=None, build=None)
    assert (load.n_ctx, load.n_threads) == (2048, 1)
