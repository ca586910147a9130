"""The My Models page: the GGUF models on this computer, with fit verdicts and actions."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from lmdesk.ui.services.context import AppContext


def create_page(context: AppContext) -> QWidget:
    from lmdesk.ui.pages.library.page import LibraryPage

    return LibraryPage(context)
