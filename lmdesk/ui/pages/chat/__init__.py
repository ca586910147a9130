"""The Chat page: conversations, streamed replies with their stats, the model and its settings."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from lmdesk.ui.services.context import AppContext


def create_page(context: AppContext) -> QWidget:
    """The page factory `lmdesk.ui.shell.page_registry` calls (key "chat")."""
    from lmdesk.ui.pages.chat.page import ChatPage

    return ChatPage(context)


__all__ = ["create_page"]
