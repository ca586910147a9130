"""Light and dark palettes; 'system' follows the desktop's colour scheme as it changes.

The Fusion style with an explicit palette looks the same on every desktop,
which keeps screenshots and the wireframe's look predictable. The sidebar
sets its own dark palette and is not touched here.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from lmdesk.ui.kit.theme import ACCENT

Role = QPalette.ColorRole
Group = QPalette.ColorGroup

_LIGHT = {
    Role.Window: "#f6f7f9",
    Role.WindowText: "#1f2937",
    Role.Base: "#ffffff",
    Role.AlternateBase: "#f3f4f6",
    Role.Text: "#111827",
    Role.Button: "#ffffff",
    Role.ButtonText: "#1f2937",
    Role.ToolTipBase: "#1f2430",
    Role.ToolTipText: "#f9fafb",
    Role.PlaceholderText: "#6b7280",
    Role.Mid: "#d1d5db",
    Role.Midlight: "#e5e7eb",
    Role.Dark: "#9ca3af",
    Role.Light: "#ffffff",
    Role.Shadow: "#6b7280",
    Role.Link: "#2563eb",
}
_DARK = {
    Role.Window: "#15181f",
    Role.WindowText: "#e5e7eb",
    Role.Base: "#1c2029",
    Role.AlternateBase: "#232834",
    Role.Text: "#f3f4f6",
    Role.Button: "#262b36",
    Role.ButtonText: "#e5e7eb",
    Role.ToolTipBase: "#f9fafb",
    Role.ToolTipText: "#111827",
    Role.PlaceholderText: "#9ca3af",
    Role.Mid: "#3a4150",
    Role.Midlight: "#2d3340",
    Role.Dark: "#0f1116",
    Role.Light: "#3a4150",
    Role.Shadow: "#000000",
    Role.Link: "#60a5fa",
}


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    return bool(hints.colorScheme() == Qt.ColorScheme.Dark)


def resolve_dark(theme: str) -> bool:
    """Whether `theme` ('system', 'light' or 'dark') means dark right now."""
    if theme == "dark":
        return True
    if theme == "light":
        return False
    return system_is_dark()


def build_palette(dark: bool) -> QPalette:
    palette = QPalette()
    for role, value in (_DARK if dark else _LIGHT).items():
        palette.setColor(role, QColor(value))
    palette.setColor(Role.Highlight, ACCENT)
    palette.setColor(Role.HighlightedText, QColor("#ffffff"))
    palette.setColor(Role.Accent, ACCENT)
    disabled = QColor("#6b7280") if dark else QColor("#9ca3af")
    for role in (Role.WindowText, Role.Text, Role.ButtonText):
        palette.setColor(Group.Disabled, role, disabled)
    return palette


class ThemeController(QObject):
    """Applies the theme setting to the app, and re-applies it when the system scheme changes."""

    def __init__(self, app: QApplication, theme: str = "system") -> None:
        super().__init__(app)
        self._app = app
        self._theme = theme
        self.dark = False
        app.setStyle("Fusion")
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._system_changed)
        self.apply(theme)

    @property
    def theme(self) -> str:
        return self._theme

    def apply(self, theme: str) -> None:
        self._theme = theme
        self.dark = resolve_dark(theme)
        self._app.setPalette(build_palette(self.dark))

    def _system_changed(self, _scheme: Qt.ColorScheme) -> None:
        if self._theme == "system":
            self.apply("system")


_controller: ThemeController | None = None


def theme_controller(app: QApplication, theme: str = "system") -> ThemeController:
    """The app's one ThemeController (created on first call, then `theme` is applied)."""
    global _controller
    try:
        stale = _controller is None or _controller.parent() is not app
    except RuntimeError:  # its QApplication was deleted
        stale = True
    if stale or _controller is None:
        _controller = ThemeController(app, theme)
    else:
        _controller.apply(theme)
    return _controller
