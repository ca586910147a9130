"""One error surface: the banner, report_error from threads, uncaught exceptions, the log."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot
from shell_helpers import label_pages, standin_feed

from lmdesk.core.logs import LOG_FILE, install_exception_hooks, setup_logging, stop_logging
from lmdesk.ui.services.errors import ErrorBanner, error_bridge, report_error, show_error
from lmdesk.ui.shell.main_window import MainWindow


@pytest.fixture
def window(qtbot: QtBot) -> Iterator[MainWindow]:
    with label_pages():
        window = MainWindow(gpu_feed=standin_feed())
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        yield window


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = setup_logging(tmp_path / "logs")
    yield path
    stop_logging()


def test_show_error_puts_message_in_banner_with_collapsed_details(
    window: MainWindow, qtbot: QtBot
) -> None:
    banner = window.banner
    assert not banner.isVisible()
    show_error(window, "The download stopped", "HTTP 503 from the server")
    assert banner.isVisible()
    assert banner.message == "The download stopped"
    assert banner.details == "HTTP 503 from the server"
    assert not banner.details_visible
    details_button = banner._details_button
    qtbot.mouseClick(details_button, Qt.MouseButton.LeftButton)
    assert banner.details_visible
    qtbot.mouseClick(details_button, Qt.MouseButton.LeftButton)
    assert not banner.details_visible


def test_banner_keeps_the_newest_and_counts_the_rest(window: MainWindow, qtbot: QtBot) -> None:
    show_error(window, "first")
    show_error(window, "second", level="warning")
    banner = window.banner
    assert banner.message == "second" and banner.count == 2
    assert "+1 earlier" in [label.text() for label in banner.findChildren(type(banner._more))]
    qtbot.mouseClick(banner._close, Qt.MouseButton.LeftButton)
    assert not banner.isVisible() and banner.count == 0


def test_banner_is_not_modal(window: MainWindow, qtbot: QtBot) -> None:
    show_error(window, "something went wrong")
    assert QApplication.activeModalWidget() is None
    window.show_page("hardware")  # the window still works
    assert window.current_page == "hardware"


def test_report_error_from_a_worker_thread_reaches_the_banner(
    window: MainWindow, qtbot: QtBot, log_file: Path
) -> None:
    worker = threading.Thread(target=report_error, args=("Disk full", "errno 28"))
    with qtbot.waitSignal(error_bridge().sig_error, timeout=5000):
        worker.start()
    worker.join()
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=5000)
    assert window.banner.message == "Disk full"
    assert "Disk full" in log_file.read_text(encoding="utf-8")


def _explode() -> None:
    raise ValueError("the worker tripped over a bad value")


@pytest.mark.qt_no_exception_capture
def test_uncaught_exception_in_a_thread_is_logged_and_shown(
    window: MainWindow, qtbot: QtBot, log_file: Path
) -> None:
    hooks = install_exception_hooks(error_bridge().report)
    try:
        worker = threading.Thread(target=_explode, name="exploding-worker")
        worker.start()
        worker.join()
        qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=5000)
    finally:
        hooks.uninstall()
    assert window.banner.message == "ValueError: the worker tripped over a bad value"
    assert "exploding-worker" in window.banner.details
    assert "in _explode" in window.banner.details
    logged = log_file.read_text(encoding="utf-8")
    assert "Uncaught exception in exploding-worker" in logged
    assert "Traceback" in logged and "the worker tripped over a bad value" in logged


@pytest.mark.qt_no_exception_capture
def test_uncaught_exception_in_a_qt_slot_is_shown(
    window: MainWindow, qtbot: QtBot, log_file: Path
) -> None:
    hooks = install_exception_hooks(error_bridge().report)
    try:
        QTimer.singleShot(0, lambda: 1 / 0)
        qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=5000)
    finally:
        hooks.uninstall()
    assert window.banner.message == "ZeroDivisionError: division by zero"
    assert "ZeroDivisionError" in log_file.read_text(encoding="utf-8")
    assert window.isVisible()


def test_hooks_restore_what_was_there() -> None:
    import sys

    before = (sys.excepthook, threading.excepthook)
    hooks = install_exception_hooks(lambda message, details: None)
    assert sys.excepthook != before[0]
    hooks.uninstall()
    assert (sys.excepthook, threading.excepthook) == before


def test_show_error_without_a_window_opens_a_non_modal_box(qtbot: QtBot) -> None:
    show_error(None, "No window yet", "details here")
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox)]
    assert boxes and boxes[-1].isVisible() and not boxes[-1].isModal()
    assert boxes[-1].text() == "No window yet"
    for box in boxes:
        box.close()


def test_banner_stands_alone(qtbot: QtBot) -> None:
    banner = ErrorBanner()
    qtbot.addWidget(banner)
    banner.show_message("Short message")
    assert banner.isVisible() and banner.details == ""
    assert not banner._details_button.isVisibleTo(banner)


def test_log_rotates_and_keeps_a_bounded_number_of_files(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    path = setup_logging(folder, max_bytes=2000, backups=2)
    try:
        log = logging.getLogger("lmdesk.test")
        for index in range(200):
            log.info("line %03d %s", index, "x" * 40)
    finally:
        stop_logging()
    assert path == folder / LOG_FILE
    names = sorted(p.name for p in folder.iterdir())
    assert names == [LOG_FILE, f"{LOG_FILE}.1", f"{LOG_FILE}.2"]
    assert all(p.stat().st_size <= 2000 for p in folder.iterdir())
    assert "line 199" in path.read_text(encoding="utf-8")


def test_setup_logging_twice_keeps_one_handler(tmp_path: Path) -> None:
    setup_logging(tmp_path / "a")
    setup_logging(tmp_path / "b")
    try:
        logging.getLogger("lmdesk.test").warning("only in b")
    finally:
        stop_logging()
    assert "only in b" in (tmp_path / "b" / LOG_FILE).read_text(encoding="utf-8")
    assert "only in b" not in (tmp_path / "a" / LOG_FILE).read_text(encoding="utf-8")


def test_asyncio_task_errors_reach_the_banner(window: MainWindow, qtbot: QtBot) -> None:
    """The qasync loop's exception handler (set by run_app) reports like the hooks do."""
    import asyncio

    from lmdesk.ui.app import _asyncio_errors

    loop = asyncio.new_event_loop()
    try:
        try:
            raise KeyError("search-task")
        except KeyError as exc:
            _asyncio_errors(
                loop, {"message": "Task exception was never retrieved", "exception": exc}
            )
    finally:
        loop.close()
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=5000)
    assert window.banner.message == "KeyError: 'search-task'"
    assert "raise KeyError" in window.banner.details
