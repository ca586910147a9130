"""A stacked bar of one device's memory: who holds what, and what is left.

Painted in one `paintEvent` (title row, bar, legend) rather than built from a
pile of widgets, so a slider tick costs one `update()`. Segment sizes are
bytes; `free` is derived. More than the capacity is drawn as a full bar with a
red, hatched stretch past a capacity mark, so "will not fit" is seen at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QHelpEvent, QPainter, QPainterPath
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from lmdesk.core.units import GiB, MiB, format_size
from lmdesk.ui.kit.theme import MEMORY_COLORS, VERDICT_COLORS

FREE = "free"
OVER = "over"

#: Short names for the legend and long ones for the tooltip, per segment key.
SEGMENT_NAMES: dict[str, tuple[str, str]] = {
    "others": ("others", "Used by other programs"),
    "weights": ("weights", "Model weights"),
    "kv_cache": ("KV", "KV cache (the context's memory)"),
    "compute": ("compute", "Compute buffers"),
    "overhead": ("CUDA", "CUDA context and driver reservations"),
    "output": ("output", "Output buffer"),
    FREE: ("free", "Free"),
}

LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
BAR_HEIGHT = 14
GAP = 4
SWATCH = 8


@dataclass(frozen=True)
class _LegendItem:
    key: str
    text: str
    x: int
    line: int


class MemoryBar(QWidget):
    """Title row ("GPU memory … 6.1 of 8.0 GiB"), the stacked bar and its legend."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = title
        self._total = 0
        self._segments: dict[str, int] = {}
        self._legends: dict[int, list[_LegendItem]] = {}
        self.paint_count = 0  # read by the slider benchmark: proves a repaint happened
        self._legend_font = QFont(self.font())
        self._legend_font.setPointSizeF(self.font().pointSizeF() * 0.82)
        self._title_font = QFont(self.font())
        self._title_font.setBold(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)

    # -- data ---------------------------------------------------------------
    def set_title(self, title: str) -> None:
        if title != self._title:
            self._title = title
            self.update()

    def title(self) -> str:
        return self._title

    def set_segments(self, total_bytes: int, segments: dict[str, int]) -> None:
        """Show `segments` (bytes, drawn in this order) of a device holding `total_bytes`."""
        if total_bytes < 0 or any(v < 0 for v in segments.values()):
            raise ValueError("memory sizes cannot be negative")
        lines_before = self._legend_lines(self.width())
        self._total = total_bytes
        self._segments = {k: v for k, v in segments.items() if k != FREE}
        self._legends.clear()
        if self._legend_lines(self.width()) != lines_before:
            self.updateGeometry()  # the legend wrapped differently: a new height
        self.update()

    def segments(self) -> dict[str, int]:
        """The segments as set, plus the derived `free` bytes."""
        return {**self._segments, FREE: self.free()}

    def total(self) -> int:
        return self._total

    def used(self) -> int:
        return sum(self._segments.values())

    def free(self) -> int:
        return max(0, self._total - self.used())

    def over(self) -> int:
        """Bytes past the capacity (0 when everything fits)."""
        return max(0, self.used() - self._total)

    def summary(self) -> str:
        """The title row's right-hand text, e.g. "6.1 of 8.0 GiB"."""
        name = "GiB" if self._unit() == GiB else "MiB"
        text = f"{self._number(self.used())} of {self._number(self._total)} {name}"
        if self.over():
            text += f" · {format_size(self.over())} over"
        return text

    def segment_at(self, x: float) -> str | None:
        """The segment key under widget x (`free`, `over`, or None off the bar)."""
        bar = self._bar_rect()
        if not bar.left() <= x < bar.left() + bar.width():
            return None
        for key, left, right in self._spans(bar):
            if left <= x < right:
                return key
        return None

    # -- geometry -----------------------------------------------------------
    def _unit(self) -> int:
        """GiB for cards and RAM; MiB for the tiny what-if cards, so numbers stay readable."""
        return GiB if max(self._total, self.used()) >= 2 * GiB else MiB

    def _number(self, n_bytes: int) -> str:
        unit = self._unit()
        value = n_bytes / unit
        if 0 < value < (0.1 if unit == GiB else 1):
            return "<0.1" if unit == GiB else "<1"
        return f"{value:.1f}" if unit == GiB else f"{value:,.0f}"

    def _title_height(self) -> int:
        return QFontMetrics(self._title_font).height()

    def _bar_rect(self) -> QRect:
        return QRect(0, self._title_height() + GAP, max(self.width(), 1), BAR_HEIGHT)

    def _spans(self, bar: QRect) -> list[tuple[str, int, int]]:
        """(key, left, right) pixel spans, rounded from the running sum so none gaps."""
        scale = max(self._total, self.used(), 1)
        spans, running = [], 0
        keys = [*self._segments.items(), (FREE, self.free())]
        for key, value in keys:
            left = bar.left() + round(bar.width() * running / scale)
            running += value
            right = bar.left() + round(bar.width() * running / scale)
            if right > left:
                spans.append((key, left, right))
        if self.over():
            cap = bar.left() + round(bar.width() * self._total / scale)
            spans = [(k, a, min(b, cap)) for k, a, b in spans if a < cap]
            spans.append((OVER, cap, bar.left() + bar.width()))
        return spans

    def _legend(self, width: int) -> list[_LegendItem]:
        """Legend items laid out in `width`; cached, as layouts ask for it several times."""
        if width not in self._legends:
            self._legends[width] = self._lay_out_legend(width)
        return self._legends[width]

    def _lay_out_legend(self, width: int) -> list[_LegendItem]:
        metrics = QFontMetrics(self._legend_font)
        items, x, line = [], 0, 0
        for key, value in self._segments.items():
            if value <= 0:
                continue
            text = f"{SEGMENT_NAMES.get(key, (key, key))[0]} {self._number(value)}"
            need = SWATCH + 3 + metrics.horizontalAdvance(text)
            if x and x + need > width:
                x, line = 0, line + 1
            items.append(_LegendItem(key, text, x, line))
            x += need + 7
        return items

    def _legend_lines(self, width: int) -> int:
        return max(1, len({i.line for i in self._legend(width)}))

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        legend = QFontMetrics(self._legend_font).height() * self._legend_lines(width)
        return self._title_height() + GAP + BAR_HEIGHT + GAP + legend

    def sizeHint(self) -> QSize:
        return QSize(320, self.heightForWidth(320))

    def minimumSizeHint(self) -> QSize:
        return QSize(160, self.heightForWidth(160))

    # -- painting -----------------------------------------------------------
    def paintEvent(self, event: object) -> None:
        self.paint_count += 1
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._paint_title(painter)
        self._paint_bar(painter)
        self._paint_legend(painter)
        painter.end()

    def _paint_title(self, painter: QPainter) -> None:
        row = QRect(0, 0, self.width(), self._title_height())
        painter.setFont(self._title_font)
        painter.setPen(self.palette().windowText().color())
        painter.drawText(row, LEFT, self._title)
        painter.setFont(self.font())
        if self.over():
            painter.setPen(VERDICT_COLORS["no_fit"])
        painter.drawText(row, RIGHT, self.summary())

    def _paint_bar(self, painter: QPainter) -> None:
        bar = self._bar_rect()
        outline = QPainterPath()
        outline.addRoundedRect(QRectF(bar), 3, 3)
        painter.save()
        painter.setClipPath(outline)
        painter.fillRect(bar, MEMORY_COLORS[FREE])
        for key, left, right in self._spans(bar):
            area = QRect(left, bar.top(), right - left, bar.height())
            if key == OVER:
                red = QColor(VERDICT_COLORS["no_fit"])
                painter.fillRect(area, red.lighter(160))
                painter.fillRect(area, QBrush(red, Qt.BrushStyle.BDiagPattern))
                painter.fillRect(QRect(left - 1, bar.top(), 2, bar.height()), red.darker(130))
            elif key != FREE:
                painter.fillRect(area, MEMORY_COLORS.get(key, MEMORY_COLORS["others"]))
        painter.restore()
        border = VERDICT_COLORS["no_fit"] if self.over() else MEMORY_COLORS[FREE].darker(115)
        painter.setPen(border)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(outline)

    def _paint_legend(self, painter: QPainter) -> None:
        painter.setFont(self._legend_font)
        metrics = QFontMetrics(self._legend_font)
        top = self._bar_rect().bottom() + 1 + GAP
        muted = self.palette().placeholderText().color()
        for item in self._legend(self.width()):
            y = top + item.line * metrics.height()
            swatch_y = y + (metrics.height() - SWATCH) // 2
            painter.fillRect(item.x, swatch_y, SWATCH, SWATCH, MEMORY_COLORS.get(item.key, muted))
            painter.setPen(muted)
            text_rect = QRect(item.x + SWATCH + 3, y, self.width(), metrics.height())
            painter.drawText(text_rect, LEFT, item.text)

    # -- tooltip ------------------------------------------------------------
    def tooltip_text(self, key: str) -> str:
        """What the tooltip says about segment `key`: exact bytes and share."""
        if key == OVER:
            return (
                f"Over capacity by {format_size(self.over())} ({self.over():,} bytes): "
                "this will not fit"
            )
        value = self.segments().get(key, 0)
        name = SEGMENT_NAMES.get(key, (key, key))[1]
        share = (
            f" · {100 * value / self._total:.0f}% of {format_size(self._total)}"
            if self._total
            else ""
        )
        return f"{name}: {format_size(value)} ({value:,} bytes){share}"

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            key = (
                self.segment_at(event.pos().x()) if self._bar_rect().contains(event.pos()) else None
            )
            if key is None:
                QToolTip.hideText()
                event.ignore()
            else:
                QToolTip.showText(event.globalPos(), self.tooltip_text(key), self)
            return True
        return super().event(event)
