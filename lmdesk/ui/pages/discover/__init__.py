"""The Discover page: Hugging Face search, repository views, fit verdicts before download."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from lmdesk.ui.services.context import AppContext


def create_page(context: AppContext) -> QWidget:
    from lmdesk.ui.pages.discover.page import DiscoverPage

    return DiscoverPage(context)
