"""First run: the welcome page fetches the starter model with progress, then the chat loads it.

The fetch is injected: it copies the real SmolLM2 file in chunks (the real
download path is tested in tests/test_starter.py). The header read, the
fit and llama.cpp's build lookup are real. NVML is a stand-in (recorded
RTX 4060 readings) because this machine has no NVIDIA GPU.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from shell_helpers import copying_fetch, label_pages, recorded_probe, standin_feed

from lmdesk.core import paths
from lmdesk.core.estimate import fit
from lmdesk.core.gguf import read_model
from lmdesk.core.gpus import LlamaBuild
from lmdesk.core.load_plan import default_load_settings, model_to_load_at_start, plan_load
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.settings import LoadDefaults, ModelLoadSettings, Settings
from lmdesk.core.starter import starter_path
from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore
from lmdesk.ui.shell.main_window import MainWindow
from lmdesk.ui.shell.welcome import STARTER_LABEL, WelcomePage


@pytest.fixture(autouse=True)
def _shell_only() -> Iterator[None]:
    with label_pages():
        yield


def test_welcome_fetches_with_progress_then_chat_gets_a_load_request(
    qtbot: QtBot, smollm2_path: Path
) -> None:
    window = MainWindow(starter_fetch=copying_fetch(smollm2_path), gpu_feed=standin_feed())
    qtbot.addWidget(window)
    window.show()
    welcome = window.welcome_page
    assert welcome is not None and welcome.get_button.text() == STARTER_LABEL
    values: list[int] = []
    welcome.progress.valueChanged.connect(values.append)

    # The request goes out without settings; the app's model host plans it (core.load_plan).
    with qtbot.waitSignal(window.models.loading, timeout=60000) as loaded:
        qtbot.mouseClick(welcome.get_button, Qt.MouseButton.LeftButton)
        assert not welcome.get_button.isEnabled() and welcome.progress.isVisible()

    path, load = loaded.args
    assert Path(path) == starter_path(paths.models_dir())
    assert Path(path).stat().st_size == smollm2_path.stat().st_size
    assert isinstance(load, LoadSettings)
    assert load.n_gpu_layers == 0  # this llama.cpp is a CPU build: nothing to offload to
    assert load.n_ctx == 4096 and load.type_k == "f16"
    assert values == sorted(values) and len(values) >= 10 and values[-1] == 1000
    assert window.welcome_page is None  # replaced by the chat page
    assert window.stack.currentWidget().objectName() == "test-chat"


def test_browse_button_opens_discover(qtbot: QtBot) -> None:
    window = MainWindow(gpu_feed=standin_feed())
    qtbot.addWidget(window)
    welcome = window.welcome_page
    assert welcome is not None
    qtbot.mouseClick(welcome.browse_button, Qt.MouseButton.LeftButton)
    assert window.current_page == "discover"


def test_failed_fetch_says_why_and_allows_a_retry(qtbot: QtBot) -> None:
    def offline(models_dir: Path, progress: object) -> Path:
        raise OSError("no network")

    window = MainWindow(starter_fetch=offline, gpu_feed=standin_feed())
    qtbot.addWidget(window)
    window.show()
    welcome = window.welcome_page
    assert welcome is not None
    welcome.fetch_starter()
    qtbot.waitUntil(lambda: welcome.get_button.isEnabled(), timeout=10000)
    assert welcome.get_button.text().startswith("Try again")
    assert "no network" in welcome.status.text()
    assert window.banner.isVisible()
    assert window.banner.message == "Could not get the starter model"


def test_cancel_stops_a_running_fetch(qtbot: QtBot, tmp_path: Path) -> None:
    release = threading.Event()

    def slow(models_dir: Path, progress) -> Path:  # type: ignore[no-untyped-def]
        progress("download", 1, 10)
        release.wait(10)
        progress("download", 2, 10)  # raises: cancelled
        return tmp_path / "never.gguf"

    context = AppContext(SettingsStore(), AppSignals())
    page = WelcomePage(context, fetch=slow)
    qtbot.addWidget(page)
    page.fetch_starter()
    assert page.busy
    page.cancel()
    release.set()
    qtbot.waitUntil(lambda: page.status.text() == "Stopped.", timeout=10000)
    assert page.wait(5) and not page.busy
    assert page.get_button.isEnabled()


def test_models_appearing_elsewhere_replace_the_welcome_page(
    qtbot: QtBot, smollm2_path: Path
) -> None:
    window = MainWindow(gpu_feed=standin_feed())
    qtbot.addWidget(window)
    assert window.welcome_page is not None
    target = starter_path(paths.models_dir())
    target.parent.mkdir(parents=True)
    target.symlink_to(smollm2_path)
    window.signals.models_changed.emit()  # e.g. a download finished
    assert window.welcome_page is None


# -- the plan for the first load -------------------------------------------------------------
CUDA_BUILD = LlamaBuild(gpu_offload=True, backends=("CUDA", "CPU"), version="0.3.36")
"""A CUDA build as llama_build_info would report it; this machine's build is CPU-only."""


def test_first_load_fits_the_gpu_when_llama_cpp_can_use_it(smollm2_path: Path) -> None:
    probe = recorded_probe("one_gpu_rtx4060")()
    settings = Settings()
    load = plan_load(smollm2_path, settings=settings, probe=probe, build=CUDA_BUILD)
    model = read_model(smollm2_path)
    expected = fit(
        model,
        default_load_settings(settings.load, n_ctx_train=model.n_ctx_train),
        gpu_free=probe.gpus[0].free_bytes,
        margin=settings.gpu_safety_margin_bytes,
        gpu_name=probe.gpus[0].name,
    )
    assert load.n_gpu_layers == expected.n_gpu_layers == model.n_layer + 1


def test_first_load_stays_on_the_cpu_without_a_cuda_build(smollm2_path: Path) -> None:
    probe = recorded_probe("one_gpu_rtx4060")()
    cpu = LlamaBuild(gpu_offload=False, backends=("CPU",), version="0.3.36")
    load = plan_load(smollm2_path, settings=Settings(), probe=probe, build=cpu)
    assert load.n_gpu_layers == 0


def test_first_load_uses_remembered_settings(smollm2_path: Path) -> None:
    remembered = ModelLoadSettings(n_gpu_layers=7, n_ctx=1024, kv_type="q8_0", flash_attn=False)
    base = Settings(load=LoadDefaults(flash_attn=False))
    settings = base.remember(str(smollm2_path), remembered)
    load = plan_load(smollm2_path, settings=settings, probe=None, build=CUDA_BUILD)
    assert (load.n_gpu_layers, load.n_ctx, load.type_k, load.type_v) == (7, 1024, "q8_0", "q8_0")
    assert load.flash_attn is None  # off + quantized V cache is refused by llama.cpp: Auto


def test_defaults_become_load_settings() -> None:
    defaults = LoadDefaults(n_ctx=32768, kv_type="q8_0", flash_attn=False, n_threads=3)
    load = default_load_settings(defaults, n_ctx_train=8192)
    assert load.n_ctx == 8192  # capped at the trained context
    assert load.flash_attn is None  # a quantized V cache needs flash attention: Auto
    assert load.n_threads == 3 and load.type_v == "q8_0"


def test_the_model_loaded_at_start_is_the_last_one_else_the_starter(
    tmp_path: Path, smollm2_path: Path
) -> None:
    models = tmp_path / "models"
    last = tmp_path / "last.gguf"
    assert model_to_load_at_start(str(last), models) is None  # neither file is there
    starter = starter_path(models)
    starter.parent.mkdir(parents=True)
    starter.symlink_to(smollm2_path)
    assert model_to_load_at_start(str(last), models) == str(starter)  # the last one moved
    assert model_to_load_at_start(None, models) == str(starter)
    last.symlink_to(smollm2_path)
    assert model_to_load_at_start(str(last), models) == str(last)
