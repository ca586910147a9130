"""The Downloads page: the app's download queue, with progress and controls per file."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from lmdesk.ui.services.context import AppContext


def create_page(context: AppContext) -> QWidget:
    from lmdesk.ui.pages.downloads.page import DownloadsPage

    return DownloadsPage(context)
