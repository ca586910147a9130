"""The main window: sidebar, lazy pages, shortcuts, remembered geometry and page, theme."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QLabel
from pytestqt.qtbot import QtBot
from shell_helpers import label_pages, place_model, standin_feed

from lmdesk.core import paths
from lmdesk.ui.kit.palette import theme_controller
from lmdesk.ui.pages.hardware.page import HardwarePage
from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore
from lmdesk.ui.shell import page_registry as pages
from lmdesk.ui.shell.about import AboutDialog
from lmdesk.ui.shell.main_window import MainWindow
from lmdesk.ui.shell.settings_dialog import SettingsDialog
from lmdesk.ui.shell.welcome import WelcomePage


@pytest.fixture(autouse=True)
def _shell_only() -> Iterator[None]:
    with label_pages():
        yield


def make_window(qtbot: QtBot) -> MainWindow:
    window = MainWindow(gpu_feed=standin_feed())
    qtbot.addWidget(window)
    with qtbot.waitActive(window):  # shortcuts reach the active window only
        window.show()
        window.activateWindow()
    return window


def test_window_opens_with_sidebar_and_welcome_when_no_models(qtbot: QtBot) -> None:
    window = make_window(qtbot)
    assert window.windowTitle() == "lmdesk"
    assert not window.windowIcon().isNull()
    screen = window.screen().availableGeometry()  # offscreen: 800x600
    expected = (min(1280, int(screen.width() * 0.9)), min(800, int(screen.height() * 0.9)))
    assert (window.width(), window.height()) == expected
    assert window.current_page == "chat"
    assert isinstance(window.stack.currentWidget(), WelcomePage)
    titles = [window.sidebar.button(s.key).text() for s in pages.page_specs()]
    assert titles == ["Chat", "Discover", "My Models", "Downloads", "Hardware", "Server"]
    assert window.sidebar.width() == 80


def test_chat_page_shows_when_a_model_exists(qtbot: QtBot, tmp_path: Path) -> None:
    place_model(paths.models_dir(), _tiny_gguf(tmp_path))
    window = make_window(qtbot)
    page = window.stack.currentWidget()
    assert isinstance(page, QLabel) and page.text() == "chat page"


def _tiny_gguf(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGUF")
    return path


def test_pages_are_built_once_on_first_visit(qtbot: QtBot) -> None:
    built: list[str] = []
    spec = pages.page_spec("discover")

    def factory(context: AppContext) -> QLabel:
        built.append("discover")
        return QLabel("counted")

    pages.register_page("discover", spec.title, factory, icon=spec.icon)
    window = make_window(qtbot)
    assert "discover" not in window.pages and built == []
    qtbot.mouseClick(window.sidebar.button("discover"), Qt.MouseButton.LeftButton)
    assert window.current_page == "discover"
    assert window.stack.currentWidget().text() == "counted"
    window.show_page("chat")
    window.show_page("discover")
    assert built == ["discover"]


def test_missing_page_module_gives_a_placeholder(qtbot: QtBot) -> None:
    factory = pages.module_page("lmdesk.ui.no_such_page", "Nowhere")
    page = factory(AppContext(SettingsStore(), AppSignals()))
    qtbot.addWidget(page)
    assert page.objectName() == "placeholder-Nowhere"
    assert "on its way" in " ".join(label.text() for label in page.findChildren(QLabel))


def test_broken_page_shows_an_error_not_a_crash(qtbot: QtBot) -> None:
    spec = pages.page_spec("downloads")

    def broken(context: AppContext) -> QLabel:
        raise RuntimeError("the downloads page fell over")

    pages.register_page("downloads", spec.title, broken, icon=spec.icon)
    window = make_window(qtbot)
    window.show_page("downloads")
    assert window.current_page == "downloads"
    assert window.banner.isVisible()
    assert window.banner.message == "The Downloads page could not be opened"
    assert "the downloads page fell over" in window.banner.details


@pytest.mark.parametrize(
    ("key", "page"),
    [(Qt.Key.Key_2, "discover"), (Qt.Key.Key_3, "library"), (Qt.Key.Key_5, "hardware")],
)
def test_ctrl_number_switches_pages(qtbot: QtBot, key: Qt.Key, page: str) -> None:
    window = make_window(qtbot)
    qtbot.keyClick(window, key, Qt.KeyboardModifier.ControlModifier)
    assert window.current_page == page
    assert window.sidebar.button(page).isChecked()
    if page == "hardware":
        assert isinstance(window.stack.currentWidget(), HardwarePage)


def test_ctrl_n_asks_for_a_new_chat_on_the_chat_page(qtbot: QtBot) -> None:
    window = make_window(qtbot)
    window.show_page("hardware")
    with qtbot.waitSignal(window.new_chat_requested, timeout=1000):
        qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.current_page == "chat"


def test_ctrl_comma_opens_settings_without_blocking(qtbot: QtBot) -> None:
    window = make_window(qtbot)
    qtbot.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    dialogs = window.findChildren(SettingsDialog)
    assert len(dialogs) == 1 and dialogs[0].isVisible()
    assert not dialogs[0].isModal()
    window.open_settings()  # a second request raises the same dialog
    assert len(window.findChildren(SettingsDialog)) == 1


def test_f1_shows_versions(qtbot: QtBot) -> None:
    window = make_window(qtbot)
    qtbot.keyClick(window, Qt.Key.Key_F1)
    about = window.findChild(AboutDialog)
    assert about is not None and about.isVisible() and not about.isModal()
    qtbot.waitUntil(lambda: "GPU offload" in about.llama.text(), timeout=20000)
    assert about.llama.text().startswith("0.3.")
    about.wait(5)


def test_ctrl_q_closes_the_window(qtbot: QtBot) -> None:
    window = make_window(qtbot)
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert not window.isVisible()
    assert not window.gpu_feed.running


def test_geometry_and_last_page_are_remembered(qtbot: QtBot) -> None:
    first = make_window(qtbot)
    first.resize(640, 540)
    first.move(40, 30)
    first.show_page("library")
    first.close()
    second = make_window(qtbot)
    assert (second.width(), second.height()) == (640, 540)
    assert (second.x(), second.y()) == (40, 30)
    assert second.current_page == "library"
    assert (paths.config_dir() / "window.ini").is_file()


def test_gpu_readings_reach_the_status_bar(qtbot: QtBot) -> None:
    window = make_window(qtbot)
    qtbot.waitUntil(lambda: "GPU 0" in window.status.text, timeout=10000)
    assert "GPU 0: GeForce RTX 4060 8.0 GiB, 7.4 GiB free" in window.status.text
    assert window.context.latest_probe is not None
    qtbot.waitUntil(lambda: window.context.llama_build is not None, timeout=20000)
    assert "CPU build" in window.status.text


def test_dark_theme_setting_applies_and_sidebar_stays_dark(qtbot: QtBot) -> None:
    window = make_window(qtbot)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    store = window.context.settings
    try:
        import dataclasses

        store.save(dataclasses.replace(store.settings, theme="dark"))
        assert app.palette().color(QPalette.ColorRole.Window).lightness() < 60
        sidebar_color = window.sidebar.grab().toImage().pixelColor(2, 400)
        store.save(dataclasses.replace(store.settings, theme="light"))
        assert app.palette().color(QPalette.ColorRole.Window).lightness() > 200
        assert window.sidebar.grab().toImage().pixelColor(2, 400) == sidebar_color
        assert sidebar_color.lightness() < 60
    finally:
        theme_controller(app, "light")


def test_model_search_is_bounded(tmp_path: Path) -> None:
    from lmdesk.ui.services.context import any_model_present

    deep = tmp_path / "a" / "b" / "c" / "d" / "e"
    deep.mkdir(parents=True)
    (deep / "hidden.gguf").write_bytes(b"GGUF")
    assert not any_model_present([tmp_path])  # five levels down: not searched
    shallow = tmp_path / "publisher" / "repo"
    shallow.mkdir(parents=True)
    (shallow / "model.gguf").write_bytes(b"GGUF")
    assert any_model_present([tmp_path / "missing", tmp_path])
