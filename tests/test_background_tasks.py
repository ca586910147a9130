"""Background work at exit: once the app has closed, no worker emits into Qt again.

A worker still busy when the interpreter tears Qt down used to emit into a deleted
object and end the app with SIGSEGV after "lmdesk closed" (seen in the end-to-end run).
"""

from __future__ import annotations

import threading

import pytest
from pytestqt.qtbot import QtBot

from lmdesk.ui.services import background
from lmdesk.ui.services.background import BackgroundTask, Progress


@pytest.fixture
def reopened(monkeypatch: pytest.MonkeyPatch) -> None:
    """`close_all` closes the gate for the whole process: give it back after the test."""
    monkeypatch.setattr(background, "_closed", False)


def _heard(task: BackgroundTask) -> list[str]:
    heard: list[str] = []
    task.sig_done.connect(lambda result: heard.append(f"done {result}"))
    task.sig_failed.connect(lambda message, _details: heard.append(f"failed {message}"))
    task.sig_finished.connect(lambda: heard.append("finished"))
    return heard


def test_a_task_that_checks_in_is_stopped_and_joined(qtbot: QtBot, reopened: None) -> None:
    started = threading.Event()

    def work(progress: Progress) -> str:
        started.set()
        while True:
            progress("waiting", 0, 1)
            threading.Event().wait(0.01)

    task = BackgroundTask(work, name="checks-in")
    heard = _heard(task)
    task.start()
    assert started.wait(5)

    assert background.close_all(5.0) == []
    assert not task.running
    qtbot.wait(50)  # queued signals would arrive now
    assert heard == []  # not even its "Cancelled"


def test_a_stuck_task_is_named_and_never_emits(qtbot: QtBot, reopened: None) -> None:
    release = threading.Event()
    task = BackgroundTask(lambda _progress: release.wait(10) and "late", name="stuck")
    heard = _heard(task)
    task.start()

    assert background.close_all(0.1) == ["stuck"]
    release.set()
    assert task.wait(5)
    qtbot.wait(50)
    assert heard == []


def test_before_close_results_arrive_and_finished_tasks_are_let_go(qtbot: QtBot) -> None:
    task = BackgroundTask(lambda _progress: 42, name="answers")
    heard = _heard(task)
    with qtbot.waitSignal(task.sig_finished, timeout=5000):
        task.start()
    assert heard == ["done 42", "finished"]
    assert task.wait(5)
    assert task not in background._running
