"""Screenshots of the main window at 1280×800 for the README, saved to docs/screenshots/.

Rendered offscreen with `QWidget.grab()`. The GPU in `hardware-rtx4060.png`
is replayed from hand-written NVML readings of a desktop with an RTX 4060 (this
machine has no NVIDIA GPU); the llama.cpp build shown is this machine's, and the
CUDA hint's interpreter is the neutral `~/lmdesk/.venv/bin/python` a reader would have.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from shell_helpers import label_pages, recorded_probe

from lmdesk.ui.kit.palette import theme_controller
from lmdesk.ui.services.gpu_feed import GpuFeed
from lmdesk.ui.shell.main_window import MainWindow

OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
SIZE = (1280, 800)


@pytest.fixture(autouse=True)
def _light_theme_and_shell_pages() -> Iterator[None]:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    theme_controller(app, "light")
    with label_pages():
        yield
    theme_controller(app, "light")


def shoot(qtbot: QtBot, page: str, name: str, feed: GpuFeed | None = None) -> Path:
    window = MainWindow(gpu_feed=feed)
    qtbot.addWidget(window)
    window.resize(*SIZE)
    window.show()
    window.show_page(page)
    qtbot.waitUntil(lambda: window.context.llama_build is not None, timeout=30000)
    qtbot.waitUntil(lambda: window.context.latest_probe is not None, timeout=30000)
    qtbot.waitUntil(lambda: "build" in window.status.text, timeout=5000)
    image = window.grab()
    assert (image.width(), image.height()) == SIZE
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    assert image.save(str(path))
    return path


def test_welcome_screenshot(qtbot: QtBot) -> None:
    path = shoot(qtbot, "chat", "welcome")
    assert path.stat().st_size > 10_000


def test_welcome_dark_screenshot(qtbot: QtBot) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    theme_controller(app, "dark")
    path = shoot(qtbot, "chat", "welcome-dark")
    assert path.stat().st_size > 10_000


def test_hardware_screenshot_of_this_machine(qtbot: QtBot) -> None:
    path = shoot(qtbot, "hardware", "hardware")
    assert path.stat().st_size > 10_000


def test_hardware_screenshot_with_a_recorded_gpu(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The hint names the Python running lmdesk; the picture shows a reader's, not this machine's.
    monkeypatch.setattr(sys, "executable", str(Path.home() / "lmdesk" / ".venv" / "bin" / "python"))
    feed = GpuFeed(probe=recorded_probe("one_gpu_rtx4060"))
    path = shoot(qtbot, "hardware", "hardware-rtx4060", feed)
    assert path.stat().st_size > 10_000
