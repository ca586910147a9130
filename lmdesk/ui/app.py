"""`run_app`: the QApplication, the qasync event loop, logging, error hooks, the window.

Start-up is kept light: only Qt, qasync and lmdesk's settings load before
the first paint. llama.cpp, huggingface_hub and NVML load later, on worker
threads or when a page needs them.

`LMDESK_STARTUP_MARKER=<file>`: write the time of the first paint to
<file> and close (used by bench/startup.py).
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from PySide6.QtWidgets import QApplication

import lmdesk
from lmdesk.core import paths, qt_platform_libs
from lmdesk.core.logs import describe_exception, install_exception_hooks, setup_logging
from lmdesk.ui.kit.icons import app_icon
from lmdesk.ui.services.background import close_all
from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore
from lmdesk.ui.services.errors import error_bridge

MARKER_ENV = "LMDESK_STARTUP_MARKER"
DRIVER_ENV = "LMDESK_DRIVER"
"""Path of a Python file with ``drive(window)``, run after the first paint: how the
end-to-end test (tests/e2e_driver.py) uses the real app as a person would."""

PLATFORM_UNAVAILABLE_EXIT = 2
"""Exit status when Qt's platform plugin cannot load (libraries missing)."""
BACKGROUND_GRACE_S = 5.0
"""How long, at exit, background work (a search, a measurement) gets to notice it should stop."""

_log = logging.getLogger(__name__)


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """lmdesk's own flags; everything else is left for Qt (-platform, -style, ...)."""
    parser = argparse.ArgumentParser(prog="lmdesk", add_help=False)
    parser.add_argument("--self-test", action="store_true")
    return parser.parse_known_args(argv)


class PlatformUnavailable(RuntimeError):
    """Qt's platform plugin cannot load here; the message says what to install."""


def platform_problem(qt_args: list[str]) -> str | None:
    """Why Qt's platform plugin would not load, checked before Qt tries: Qt aborts the
    process when it cannot load it, and nothing could say why in words."""
    if not qt_platform_libs.uses_xcb(os.environ, qt_args):
        return None
    return qt_platform_libs.check()


def make_application(qt_args: list[str]) -> QApplication:
    """The QApplication; raises `PlatformUnavailable` instead of letting Qt abort."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        problem = platform_problem(qt_args)
        if problem:
            raise PlatformUnavailable(problem)
        app = QApplication([sys.argv[0] if sys.argv else "lmdesk", *qt_args])
    app.setApplicationName("lmdesk")
    app.setApplicationDisplayName("lmdesk")
    app.setOrganizationName("lmdesk")
    app.setApplicationVersion(lmdesk.__version__)
    app.setDesktopFileName("lmdesk")
    app.setWindowIcon(app_icon())
    return app


def _write_marker(path: str) -> None:
    Path(path).write_text(f"{time.time():.6f}\n", encoding="utf-8")


def _asyncio_errors(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Errors in asyncio tasks go to the log and the banner, like any other."""
    exc = context.get("exception")
    if isinstance(exc, BaseException):
        message, details = describe_exception(type(exc), exc, exc.__traceback__)
    else:
        message, details = str(context.get("message", "asyncio error")), repr(context)
    _log.error("asyncio: %s\n%s", message, details)
    error_bridge().report(message, details, "error")


def _run_driver(path: str, window: object) -> None:
    import runpy

    runpy.run_path(path)["drive"](window)


CRASH_FILE = "crash.log"
"""Where a crash in native code (llama.cpp, Qt) leaves every thread's Python stack."""
_crash_file: TextIO | None = None


def _trace_native_crashes(path: Path) -> None:
    """On SIGSEGV, SIGFPE, SIGABRT, SIGBUS or SIGILL, write every thread's Python stack to
    `path` (appended, with the time) before the process ends: a person can send it with
    the log, and a crash in native code is no longer silent."""
    global _crash_file
    try:
        _crash_file = path.open("a", encoding="utf-8")
        _crash_file.write(f"--- lmdesk {lmdesk.__version__} started {time.ctime()}\n")
        _crash_file.flush()
        faulthandler.enable(file=_crash_file, all_threads=True)
    except OSError as exc:  # a read-only log folder: crashes stay silent, the app runs
        _log.warning("crash traces are off: %s", exc)


def run_app(argv: list[str] | None = None) -> int:
    """Open the window and run until it closes; returns the exit status."""
    args, qt_args = parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.self_test:
        from lmdesk.ui.self_test import run_self_test

        return run_self_test()
    log_file = setup_logging(paths.log_dir())
    _log.info("lmdesk %s starting; log at %s", lmdesk.__version__, log_file)
    _trace_native_crashes(paths.log_dir() / CRASH_FILE)
    try:
        app = make_application(qt_args)
    except PlatformUnavailable as exc:
        _log.error("%s", exc)
        print(f"lmdesk cannot open its window.\n{exc}", file=sys.stderr, flush=True)
        return PLATFORM_UNAVAILABLE_EXIT
    hooks = install_exception_hooks(error_bridge().report)
    try:
        return _run_window(app)
    finally:
        hooks.uninstall()


def _run_window(app: QApplication) -> int:
    import qasync

    from lmdesk.ui.kit.palette import theme_controller
    from lmdesk.ui.shell.main_window import MainWindow

    store = SettingsStore()
    theme_controller(app, store.settings.theme)  # the window re-applies it when settings change
    window = MainWindow(AppContext(settings=store, signals=AppSignals()))
    marker = os.environ.get(MARKER_ENV)
    if marker:

        def painted() -> None:
            _write_marker(marker)
            window.close()

        window.first_painted.connect(painted)
    app.aboutToQuit.connect(window.shutdown)
    driver = os.environ.get(DRIVER_ENV)
    if driver:
        window.first_painted.connect(lambda: _run_driver(driver, window))

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    loop.set_exception_handler(_asyncio_errors)
    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    window.show()
    with loop:
        loop.run_until_complete(closed.wait())
    still_running = close_all(BACKGROUND_GRACE_S)
    if still_running:
        _log.warning("background work still running at exit: %s", ", ".join(still_running))
    _log.info("lmdesk closed")
    return 0
