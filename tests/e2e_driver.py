"""Runs inside the real app (LMDESK_DRIVER): acts as a person would, writes what it saw.

Phase "first": get the starter model from the welcome page, wait for it to load
(auto-fitted), send a message with Enter, wait for the streamed reply, quit.
Phase "second": wait for the chat page and the model loaded at start, report the
conversations found, quit. Results go to the JSON file named by E2E_OUT.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

PROMPT = "Name one colour of the sky."


def _when(condition: Callable[[], bool], then: Callable[[], None], *, every_ms: int = 50) -> None:
    def poll() -> None:
        if condition():
            then()
        else:
            QTimer.singleShot(every_ms, poll)

    QTimer.singleShot(0, poll)


def _finish(window: Any, result: dict[str, Any]) -> None:
    with open(os.environ["E2E_OUT"], "w", encoding="utf-8") as out:
        json.dump(result, out)
    window.close()
    QApplication.quit()


def _chat(window: Any) -> Any:
    from lmdesk.ui.pages.chat.page import ChatPage

    page = window.pages.get("chat")
    return page if isinstance(page, ChatPage) else None


def drive(window: Any) -> None:
    if os.environ["E2E_PHASE"] == "first":
        _first(window)
    else:
        _second(window)


def _first(window: Any) -> None:
    result: dict[str, Any] = {"welcome": window.welcome_page is not None}
    window.welcome_page.get_button.click()

    def loaded() -> bool:
        page = _chat(window)
        return page is not None and page.controller.loaded_model is not None

    def send() -> None:
        page = _chat(window)
        model = page.controller.loaded_model
        result["n_gpu_layers"] = model.gpu_layers
        result["n_ctx"] = model.n_ctx
        page.composer.edit.setFocus()
        QTest.keyClicks(page.composer.edit, PROMPT)
        QTest.keyClick(page.composer.edit, Qt.Key.Key_Return)
        _when(lambda: _replied(page), lambda: done(page), every_ms=100)

    def done(page: Any) -> None:
        conversation = page.store.list_conversations()[0]
        messages = page.store.messages(conversation.id)
        result["messages"] = [(m.role, m.content, m.state) for m in messages]
        _finish(window, result)

    _when(loaded, send, every_ms=100)


def _replied(page: Any) -> bool:
    conversations = page.store.list_conversations()
    if not conversations or page.controller.generating:
        return False
    messages = page.store.messages(conversations[0].id)
    return any(m.role == "assistant" and m.state == "complete" for m in messages)


def _second(window: Any) -> None:
    def ready() -> bool:
        page = _chat(window)
        return page is not None and page.controller.loaded_model is not None

    def report() -> None:
        page = _chat(window)
        conversations = page.store.list_conversations()
        threads = [
            [(m.role, m.content, m.state) for m in page.store.messages(c.id)] for c in conversations
        ]
        _finish(window, {"welcome": window.welcome_page is not None, "conversations": threads})

    _when(ready, report, every_ms=100)
