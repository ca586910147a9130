"""The Server page: lmdesk's OpenAI- and Anthropic-compatible API, started and watched here."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from lmdesk.ui.services.context import AppContext


def create_page(context: AppContext) -> QWidget:
    from lmdesk.ui.pages.server.page import ServerPage

    return ServerPage(context)
