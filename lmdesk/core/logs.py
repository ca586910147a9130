"""Logging to a rotating file, and uncaught exceptions turned into reports.

Qt-free: the UI passes a `report(message, details)` callback that forwards
each report to the GUI thread (a queued signal). Every uncaught exception,
in the main thread or any other, is written to the log with its traceback
and handed to that callback, so nothing dies silently.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

from lmdesk.core.units import MiB

LOG_FILE = "lmdesk.log"
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"

Report = Callable[[str, str], None]
"""report(message, details): a one-line message for a person, and the traceback."""

_log = logging.getLogger("lmdesk")


class _LmdeskFileHandler(RotatingFileHandler):
    """Marks lmdesk's own handler so a second `setup_logging` replaces it."""


def stop_logging() -> None:
    """Remove and close lmdesk's file handler (end of a test, or before moving the log)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _LmdeskFileHandler):
            root.removeHandler(handler)
            handler.close()


def setup_logging(
    log_dir: Path,
    *,
    level: int = logging.INFO,
    max_bytes: int = 2 * MiB,
    backups: int = 5,
) -> Path:
    """Log to `log_dir/lmdesk.log`, rotated at `max_bytes` with `backups` old files kept.

    Calling it again (a new profile in tests) moves the log; it never adds a
    second handler. Returns the log file's path.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / LOG_FILE
    stop_logging()
    handler = _LmdeskFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    # Only lmdesk's own loggers log below WARNING; libraries keep their default.
    logging.getLogger("lmdesk").setLevel(level)
    return path


def describe_exception(
    exc_type: type[BaseException], exc: BaseException | None, tb: TracebackType | None
) -> tuple[str, str]:
    """A short message (`ValueError: bad value`) and the full traceback text."""
    text = str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else ""
    message = f"{exc_type.__name__}: {text}" if text else exc_type.__name__
    details = "".join(traceback.format_exception(exc_type, exc, tb))
    return message, details


class ExceptionHooks:
    """Installs `sys.excepthook` and `threading.excepthook`; `uninstall()` restores them."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self._old_sys = sys.excepthook
        self._old_threading = threading.excepthook
        sys.excepthook = self._sys_hook
        threading.excepthook = self._thread_hook

    def uninstall(self) -> None:
        if sys.excepthook == self._sys_hook:
            sys.excepthook = self._old_sys
        if threading.excepthook == self._thread_hook:
            threading.excepthook = self._old_threading

    def _sys_hook(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            self._old_sys(exc_type, exc, tb)
            return
        self._handle(exc_type, exc, tb, threading.current_thread().name)

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if issubclass(args.exc_type, SystemExit):
            return
        name = args.thread.name if args.thread is not None else "unknown thread"
        self._handle(args.exc_type, args.exc_value, args.exc_traceback, name)

    def _handle(
        self,
        exc_type: type[BaseException],
        exc: BaseException | None,
        tb: TracebackType | None,
        thread_name: str,
    ) -> None:
        message, details = describe_exception(exc_type, exc, tb)
        _log.error("Uncaught exception in %s\n%s", thread_name, details.rstrip())
        try:
            self._report(message, f"Thread: {thread_name}\n\n{details}")
        except Exception:  # the report itself failed: the log still has it
            _log.exception("Could not report an uncaught exception")


def install_exception_hooks(report: Report) -> ExceptionHooks:
    """Log every uncaught exception and pass it to `report`; returns the installed hooks."""
    return ExceptionHooks(report)
