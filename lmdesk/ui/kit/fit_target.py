"""The "Fit for" GPU selector shared by Discover and My Models.

Detected GPUs come from the app's `gpu_probe` signal; what-if cards and a custom size
from `GpuPicker`. `inputs()` is a Qt-free snapshot (`FitInputs`) of what the verdicts
depend on, so they can also be computed on a worker thread.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from lmdesk.core.estimate import FitInputs
from lmdesk.core.gpus import GpuProbe, system_memory
from lmdesk.core.settings import Settings
from lmdesk.ui.kit.offload.gpu_picker import GpuPicker
from lmdesk.ui.kit.theme import VERDICT_COLORS
from lmdesk.ui.services.context import AppContext


def verdict_color(kind: str) -> QColor:
    return VERDICT_COLORS.get(kind, VERDICT_COLORS["cpu_only"])


def verdict_brush(kind: str) -> QBrush:
    return QBrush(verdict_color(kind))


@cache
def verdict_icon(kind: str, *, hollow: bool = False) -> QIcon:
    """A coloured dot for a verdict; a ring when the verdict is only an estimate."""
    size = 12
    pixmap = QPixmap(size * 2, size * 2)  # drawn at 2x, shown crisp on high-DPI screens
    pixmap.setDevicePixelRatio(2.0)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    color = verdict_color(kind)
    painter.setPen(QPen(color, 1.6))
    painter.setBrush(Qt.BrushStyle.NoBrush if hollow else QBrush(color))
    painter.drawEllipse(QRectF(2.0, 2.0, size - 4.0, size - 4.0))
    painter.end()
    icon = QIcon(pixmap)
    icon.addPixmap(pixmap, QIcon.Mode.Selected)  # no tint on the selected row
    return icon


class FitTarget(QWidget):
    """A labelled GPU picker; `changed` when the card or the settings behind verdicts change."""

    changed = Signal()

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._context = context
        self._ram_total = system_memory().total_bytes
        self.picker = GpuPicker(several=False)  # the verdicts below plan one card
        self.picker.setToolTip("The card the verdicts are computed for")
        label = QLabel("Fit for")
        label.setStyleSheet("color: palette(placeholder-text);")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        row.addWidget(label)
        row.addWidget(self.picker, 1)
        if context.latest_probe is not None:
            self.picker.set_probe(context.latest_probe)
        self.picker.target_changed.connect(self.changed)
        context.signals.gpu_probe.connect(self._on_probe)
        context.settings.changed.connect(self._on_settings)

    def inputs(self) -> FitInputs:
        settings = self._context.settings.settings
        return FitInputs(
            gpu=self.picker.current(),
            defaults=settings.load,
            margin=settings.gpu_safety_margin_bytes,
            ram_total=self._ram_total,
        )

    def select(self, key: str | None) -> bool:
        """Choose a card by uuid, what-if id or name (None: CPU only); emits `changed`."""
        if not self.picker.select(key):
            return False
        self.changed.emit()
        return True

    def set_ram_total(self, total_bytes: int) -> None:
        """Plan for another amount of system RAM (what-if; tests)."""
        self._ram_total = total_bytes
        self.changed.emit()

    def _on_probe(self, probe: GpuProbe) -> None:
        before = self.picker.current_key()
        self.picker.set_probe(probe)
        if self.picker.current_key() != before:
            self.changed.emit()

    def _on_settings(self, _settings: Settings) -> None:
        self.changed.emit()
