"""llama.cpp's log, captured: the reason behind a failed load, and what a load allocated.

llama.cpp reports why it failed ("unknown model architecture", "tensor data is
not within the file bounds", "failed to allocate buffer") only in its log, and
what it allocated ("KV buffer size = 45.00 MiB") likewise. One C callback is
installed for the whole process (llama.cpp has one global logger); code that
wants the lines opens a `capture()` around the native call. Lines are also
forwarded to the ``lmdesk.llama`` logger, and never printed to the terminal.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("lmdesk.llama")
# A library logs; the application decides what is shown (no "last resort" printing to stderr).
logger.addHandler(logging.NullHandler())

# enum ggml_log_level (ggml.h of the vendored llama.cpp: DEBUG comes before INFO)
LEVEL_NONE, LEVEL_DEBUG, LEVEL_INFO, LEVEL_WARN, LEVEL_ERROR, LEVEL_CONT = range(6)
_TO_LOGGING = {
    LEVEL_NONE: logging.DEBUG,
    LEVEL_INFO: logging.DEBUG,  # llama.cpp's info is chatty: hundreds of lines per load
    LEVEL_WARN: logging.WARNING,
    LEVEL_ERROR: logging.ERROR,
    LEVEL_DEBUG: logging.DEBUG,
}


@dataclass(frozen=True)
class LogLine:
    level: int
    text: str

    @property
    def is_error(self) -> bool:
        return self.level == LEVEL_ERROR


@dataclass
class LogCapture:
    """The log lines written while a `capture()` was open (from any thread)."""

    lines: list[LogLine] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def errors(self) -> list[str]:
        return [line.text for line in self.lines if line.is_error]

    def matching(self, needle: str) -> list[str]:
        return [line.text for line in self.lines if needle in line.text]


class _LogSink:
    """Receives every llama.cpp/ggml log call and hands complete lines to the captures."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._captures: list[LogCapture] = []
        self._partial = ""
        self._level = LEVEL_INFO
        # The ctypes callback object must outlive every native call that may log:
        # if it were collected, llama.cpp would call freed memory. It lives here,
        # on a module-level singleton, for the life of the process.
        self._callback: Any = None

    def install(self) -> None:
        """Route llama.cpp's log here.

        Registered again on every call, because other code may have pointed
        llama.cpp's one global logger elsewhere in the meantime (llama-cpp-python
        does at import); the same callback object is reused, so nothing leaks.
        """
        import llama_cpp

        with self._lock:
            if self._callback is None:
                self._callback = llama_cpp.llama_log_callback(self._on_log)
            llama_cpp.llama_log_set(self._callback, ctypes.c_void_p(0))

    def install_mtmd(self) -> None:
        """Route libmtmd's own log (the vision projector's) here too."""
        from llama_cpp import mtmd_cpp

        self.install()
        mtmd_cpp.mtmd_log_set(self._callback, ctypes.c_void_p(0))
        mtmd_cpp.mtmd_helper_log_set(self._callback, ctypes.c_void_p(0))

    def _on_log(self, level: int, text: bytes | None, _user_data: object) -> None:
        # Called from native code, possibly on llama.cpp's threads: never raise.
        try:
            chunk = (text or b"").decode("utf-8", "replace")
            with self._lock:
                if level != LEVEL_CONT:
                    if self._partial:
                        self._emit(self._partial)
                        self._partial = ""
                    self._level = level
                self._partial += chunk
                while "\n" in self._partial:
                    line, self._partial = self._partial.split("\n", 1)
                    self._emit(line)
        except Exception:  # pragma: no cover - a logging failure must not reach C
            pass

    def _emit(self, text: str) -> None:
        if not text.strip(" ."):  # progress dots and blank lines
            return
        line = LogLine(self._level, text)
        for capture in self._captures:
            capture.lines.append(line)
        logger.log(_TO_LOGGING.get(self._level, logging.DEBUG), "%s", text)

    def _flush_partial(self) -> None:
        with self._lock:
            if self._partial:
                self._emit(self._partial)
                self._partial = ""

    @contextmanager
    def capture(self) -> Iterator[LogCapture]:
        self.install()
        capture = LogCapture()
        with self._lock:
            self._captures.append(capture)
        try:
            yield capture
        finally:
            self._flush_partial()
            with self._lock:  # by identity: two captures with the same lines are equal
                self._captures[:] = [c for c in self._captures if c is not capture]


_SINK = _LogSink()


def install() -> None:
    """Take over llama.cpp's log for this process (safe to call many times)."""
    _SINK.install()


def install_mtmd() -> None:
    """Take over libmtmd's log too (a projector is about to load)."""
    _SINK.install_mtmd()


def capture() -> AbstractContextManager[LogCapture]:
    """``with capture() as log: <native call>``; ``log.lines`` then holds what it logged."""
    return _SINK.capture()
