"""The Downloads page: the app's download queue, with progress and controls per file."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from lmdesk.ui.context import AppContext


def create_page(context: AppContext) -> QWidget:
    from lmdesk.ui.downloads.page import DownloadsPage

    return DownloadsPage(context)
