"""Shared by the chat and inference-worker tests: a guard against QThreads left running,
settings small enough for a shared 2-core machine, and a few waits on real signals."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from weakref import WeakKeyDictionary

import pytest
from PySide6.QtCore import QThread

from lmdesk.core.load_settings import LoadSettings

SETTINGS = LoadSettings(n_ctx=1024, n_batch=256, n_ubatch=256, n_threads=1)
"""One thread: the machine's two cores are shared by several test runs."""

_started: WeakKeyDictionary[QThread, str] = WeakKeyDictionary()


def dangling_qthreads() -> list[str]:
    """Where each QThread that is still running was started."""
    out = []
    for thread, where in list(_started.items()):
        try:
            running = thread.isRunning()
        except RuntimeError:  # the C++ object is gone: it cannot be running
            continue
        if running:
            out.append(where)
    return out


@pytest.fixture
def no_dangling_qthreads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail the test if it leaves a QThread running (napari's `dangling_qthreads` idea).

    Every `QThread.start` during the test records where it was called from.
    """
    real_start = QThread.start

    def start(self: QThread, *args: object) -> None:
        _started[self] = "".join(traceback.format_stack(limit=6)[:-1])
        real_start(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(QThread, "start", start)
    yield
    left = dangling_qthreads()
    for thread in list(_started):  # end them, so one bad test does not crash the run
        if thread.isRunning():
            thread.quit()
            thread.wait(10_000)
    _started.clear()
    if left:
        pytest.fail(
            f"{len(left)} QThread(s) still running after the test; started at:\n" + "\n".join(left)
        )
