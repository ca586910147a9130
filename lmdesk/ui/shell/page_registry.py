"""The sidebar's pages: a registry of factories, each called the first time its page is shown.

A page package plugs in by exposing `create_page(context: AppContext) -> QWidget`
(e.g. in `lmdesk/ui/pages/discover/__init__.py`); `module_page` imports it only
when the page is first visited, so start-up never pays for it. A package
that does not exist yet shows a tidy placeholder instead.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from lmdesk.ui.services.context import AppContext

_log = logging.getLogger(__name__)

PageFactory = Callable[[AppContext], QWidget]


@dataclass(frozen=True)
class PageSpec:
    key: str
    title: str
    factory: PageFactory
    icon: str
    """Name of a sidebar icon in `lmdesk.ui.kit.icons` (e.g. 'chat')."""


_PAGES: dict[str, PageSpec] = {}


def register_page(key: str, title: str, factory: PageFactory, *, icon: str = "") -> None:
    """Add a page (or replace the one with the same key, keeping its place in the sidebar)."""
    _PAGES[key] = PageSpec(key, title, factory, icon or key)


def page_specs() -> list[PageSpec]:
    """Registered pages in sidebar order."""
    return list(_PAGES.values())


def page_spec(key: str) -> PageSpec:
    return _PAGES[key]


def placeholder_page(title: str, note: str) -> QWidget:
    """A calm 'coming soon' page, used while a page's package does not exist."""
    page = QWidget()
    page.setObjectName(f"placeholder-{title}")
    layout = QVBoxLayout(page)
    layout.addStretch(1)
    heading = QLabel(title)
    heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
    font = heading.font()
    font.setPointSizeF(font.pointSizeF() * 1.6)
    font.setBold(True)
    heading.setFont(font)
    text = QLabel(note)
    text.setAlignment(Qt.AlignmentFlag.AlignCenter)
    text.setWordWrap(True)
    text.setEnabled(False)
    layout.addWidget(heading)
    layout.addWidget(text)
    layout.addStretch(2)
    return page


def module_page(module: str, title: str, attr: str = "create_page") -> PageFactory:
    """A factory that imports `module` on first use and calls its `create_page(context)`."""

    def factory(context: AppContext) -> QWidget:
        try:
            loaded = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise  # the page exists but something it imports is missing: a real error
            _log.info("page module %s is not there yet; showing a placeholder", module)
            return placeholder_page(title, "This page is on its way.")
        create = getattr(loaded, attr, None)
        if create is None:
            _log.info("%s has no %s(); showing a placeholder", module, attr)
            return placeholder_page(title, "This page is on its way.")
        widget: QWidget = create(context)
        return widget

    return factory


def _register_defaults() -> None:
    for key, title, module in (
        ("chat", "Chat", "lmdesk.ui.pages.chat"),
        ("discover", "Discover", "lmdesk.ui.pages.discover"),
        ("library", "My Models", "lmdesk.ui.pages.library"),
        ("downloads", "Downloads", "lmdesk.ui.pages.downloads"),
        ("hardware", "Hardware", "lmdesk.ui.pages.hardware.page"),
        ("server", "Server", "lmdesk.ui.pages.server"),
    ):
        register_page(key, title, module_page(module, title), icon=key)


_register_defaults()
