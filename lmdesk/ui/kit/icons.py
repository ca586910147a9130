"""The app icon (PNG files in `resources/`) and the sidebar's line icons (small inline SVGs).

The sidebar icons are drawn in code from 24×24 stroke paths, in any colour,
so they stay sharp at any scale and follow the sidebar's palette.
"""

from __future__ import annotations

import logging
import sys
from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

_log = logging.getLogger(__name__)

ICON_SIZES = (16, 32, 64, 128, 256)

#: 24×24 stroke drawings (no fill), one per sidebar entry.
LINE_ICONS: dict[str, str] = {
    "chat": '<path d="M5 4.5h14a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2h-9l-5 4v-4a2 2 0 0 1-2-2v-9a2 2 0 0 1'
    ' 2-2z"/><path d="M8 9.5h8M8 13h5"/>',
    "discover": '<circle cx="11" cy="11" r="6.5"/><path d="M16 16l4.5 4.5"/>',
    "library": '<path d="M12 3l8 4.5v9L12 21l-8-4.5v-9z"/><path d="M4 7.5l8 4.5 8-4.5M12 12v9"/>',
    "downloads": '<path d="M12 3.5v11M7.5 10l4.5 4.5 4.5-4.5"/><path d="M4 16.5v3h16v-3"/>',
    "hardware": '<rect x="6" y="6" width="12" height="12" rx="2"/><rect x="9.5" y="9.5" width="5"'
    ' height="5" rx="1"/><path d="M9.5 2.5v3.5M14.5 2.5v3.5M9.5 18v3.5M14.5 18v3.5M2.5 9.5h3.5'
    'M2.5 14.5h3.5M18 9.5h3.5M18 14.5h3.5"/>',
    "server": '<rect x="4" y="4" width="16" height="6.5" rx="1.5"/><rect x="4" y="13.5"'
    ' width="16" height="6.5" rx="1.5"/><path d="M7.5 7.25h.01M7.5 16.75h.01M11 7.25h5.5'
    'M11 16.75h5.5"/>',
    "settings": '<path d="M4 6h9M17 6h3M4 12h3M11 12h9M4 18h11M19 18h1"/><circle cx="15" cy="6"'
    ' r="2"/><circle cx="9" cy="12" r="2"/><circle cx="17" cy="18" r="2"/>',
}


def resource_candidates() -> list[Path]:
    """Where the icons may be, in order: a PyInstaller bundle, a checkout, an installed wheel."""
    bundle = getattr(sys, "_MEIPASS", None)
    candidates = [Path(bundle) / "resources"] if bundle else []
    candidates.append(Path(__file__).resolve().parents[3] / "resources")
    candidates.append(Path(sys.prefix) / "share" / "lmdesk")  # pyproject's data-files
    return candidates


def resources_dir() -> Path | None:
    """The first of `resource_candidates()` that has the icons."""
    return next((c for c in resource_candidates() if (c / "icons").is_dir()), None)


@cache
def app_icon() -> QIcon:
    """The lmdesk icon at every size shipped (empty when the PNGs are missing)."""
    icon = QIcon()
    folder = resources_dir()
    if folder is None:
        _log.warning("resources folder not found; the window has no icon")
        return icon
    for size in ICON_SIZES:
        png = folder / "icons" / f"lmdesk-{size}.png"
        if png.is_file():
            icon.addFile(str(png))
    return icon


def _svg(name: str, color: str) -> bytes:
    body = LINE_ICONS[name]
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" '
        f'stroke="{color}" stroke-width="1.7" stroke-linecap="round" stroke-linejoin="round">'
        f"{body}</svg>"
    ).encode()


def render_svg(data: bytes, size: int, *, ratio: float = 2.0) -> QPixmap:
    """An SVG drawn into a transparent pixmap of `size` logical pixels."""
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(QByteArray(data))
    pixmap = QPixmap(round(size * ratio), round(size * ratio))
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, pixmap.width(), pixmap.height()))
    painter.end()
    pixmap.setDevicePixelRatio(ratio)
    return pixmap


def line_icon(name: str, *, normal: QColor, active: QColor, size: int = 22) -> QIcon:
    """A sidebar icon: `normal` colour, and `active` when checked."""
    icon = QIcon()
    if name not in LINE_ICONS:
        return icon
    icon.addPixmap(render_svg(_svg(name, normal.name()), size), QIcon.Mode.Normal, QIcon.State.Off)
    icon.addPixmap(render_svg(_svg(name, active.name()), size), QIcon.Mode.Normal, QIcon.State.On)
    return icon
