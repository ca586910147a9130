"""A small chart of tokens/s against GPU layers (or, for a mixture-of-experts model, against
the layers whose experts stay on the CPU): the prediction, the measurements, where the
slider is and where the GPU's memory runs out.

A QPainter widget rather than QtCharts or pyqtgraph: one line, a few dots and
two marks need ~150 lines here, while QtCharts is in PySide6-Addons (a 175 MB
wheel for 6.11.3) and pyqtgraph brings numpy-heavy machinery for plots of
thousands of points. The curve is recomputed only when something other than
the layer count changes; a slider tick only moves the marker (one `update()`).
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from lmdesk.ui.kit.theme import ACCENT

MEASURED = QColor("#f59e0b")
LIMIT = QColor("#ef4444")
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 34, 8, 8, 18


def nice_top(value: float) -> float:
    """The axis' top: 1, 2 or 5 times a power of ten at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10.0 ** int(f"{value:e}".split("e")[1])
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


class SpeedChart(QWidget):
    """Predicted generation tokens/s per setting (GPU layers by default), measured points over
    it. ``fits_below``: the settings up to the limit fit the GPU (GPU layers); False: those
    from the limit on do (experts on the CPU: more of them leave more room)."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        axis: str = "GPU layers",
        fits_below: bool = True,
    ) -> None:
        super().__init__(parent)
        self.axis = axis
        self.fits_below = fits_below
        self._predicted: list[float | None] = []
        self._measured: list[tuple[int, float]] = []
        self._current = 0
        self._limit: int | None = None
        self.paint_count = 0
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(90)
        self._small = QFont(self.font())
        self._small.setPointSizeF(self.font().pointSizeF() * 0.8)

    def sizeHint(self) -> QSize:
        return QSize(320, 100)

    # -- data ---------------------------------------------------------------
    def set_curve(self, predicted: list[float | None], limit: int | None) -> None:
        """Predicted tokens/s for settings 0..len-1; `limit`: the most GPU layers that fit, or
        the fewest expert layers on the CPU that do (None: no GPU)."""
        self._predicted, self._limit = list(predicted), limit
        self.update()

    def set_current(self, layers: int) -> None:
        if layers != self._current:
            self._current = layers
            self.update()

    def set_measured(self, points: list[tuple[int, float]]) -> None:
        """(GPU layers, measured generation tokens/s) pairs."""
        self._measured = sorted(points)
        self.update()

    def curve(self) -> list[float | None]:
        return list(self._predicted)

    def measured(self) -> list[tuple[int, float]]:
        return list(self._measured)

    def current(self) -> int:
        return self._current

    def limit(self) -> int | None:
        return self._limit

    # -- painting -----------------------------------------------------------
    def _plot_rect(self) -> QRectF:
        return QRectF(
            MARGIN_LEFT,
            MARGIN_TOP,
            max(1, self.width() - MARGIN_LEFT - MARGIN_RIGHT),
            max(1, self.height() - MARGIN_TOP - MARGIN_BOTTOM),
        )

    def paintEvent(self, event: QPaintEvent) -> None:
        self.paint_count += 1
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self._plot_rect()
        text = self.palette().color(self.foregroundRole())
        faint = QColor(text)
        faint.setAlpha(60)
        painter.setFont(self._small)
        values = [v for v in self._predicted if v is not None]
        values += [v for _, v in self._measured]
        top = nice_top(max(values, default=1.0))
        n = max(len(self._predicted) - 1, 1)

        def x_at(layers: float) -> float:
            return rect.left() + rect.width() * layers / n

        def y_at(tps: float) -> float:
            return rect.bottom() - rect.height() * min(tps, top) / top

        painter.setPen(QPen(faint, 1))
        painter.drawRect(rect)
        painter.setPen(text)
        painter.drawText(
            QRectF(0, rect.top() - 4, MARGIN_LEFT - 4, 14),
            Qt.AlignmentFlag.AlignRight,
            f"{top:g}",
        )
        painter.drawText(
            QRectF(0, rect.bottom() - 10, MARGIN_LEFT - 4, 14), Qt.AlignmentFlag.AlignRight, "0"
        )
        painter.drawText(
            QRectF(rect.left(), rect.bottom() + 2, rect.width(), 14),
            Qt.AlignmentFlag.AlignHCenter,
            f"{self.axis} → (tok/s ↑)",
        )
        limit = self._limit
        if limit is not None and (limit < n if self.fits_below else limit > 0):
            beyond = (
                QRectF(QPointF(x_at(limit), rect.top()), rect.bottomRight())
                if self.fits_below
                else QRectF(rect.topLeft(), QPointF(x_at(min(limit, n)), rect.bottom()))
            )
            shade = QColor(LIMIT)
            shade.setAlpha(28)
            painter.fillRect(beyond, shade)
            painter.setPen(QPen(LIMIT, 1, Qt.PenStyle.DashLine))
            x_limit = x_at(min(limit, n))
            painter.drawLine(QPointF(x_limit, rect.top()), QPointF(x_limit, rect.bottom()))
        path = QPainterPath()
        started = False
        for layers, tps in enumerate(self._predicted):
            if tps is None:
                started = False
                continue
            point = QPointF(x_at(layers), y_at(tps))
            if started:
                path.lineTo(point)
            else:
                path.moveTo(point)
                started = True
        painter.setPen(QPen(ACCENT, 2))
        painter.drawPath(path)
        painter.setPen(QPen(MEASURED.darker(130), 1))
        painter.setBrush(MEASURED)
        for layers, tps in self._measured:
            painter.drawEllipse(QPointF(x_at(layers), y_at(tps)), 3.5, 3.5)
        painter.setPen(QPen(text, 1, Qt.PenStyle.DotLine))
        x = x_at(self._current)
        painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
        if 0 <= self._current < len(self._predicted):
            tps = self._predicted[self._current]
            if tps is not None:
                painter.setPen(QPen(ACCENT.darker(150), 1))
                painter.setBrush(ACCENT)
                painter.drawEllipse(QPointF(x, y_at(tps)), 4.0, 4.0)
                label = f"{tps:.1f}" if tps < 10 else f"{tps:.0f}"
                left = x > rect.center().x()  # the figure on the side with room
                box = QRectF(x - 46 if left else x + 6, y_at(tps) - 16, 40, 14)
                painter.setPen(text)
                align = Qt.AlignmentFlag.AlignRight if left else Qt.AlignmentFlag.AlignLeft
                painter.drawText(box.intersected(rect.adjusted(0, -8, 0, 0)), align, label)
        painter.end()
