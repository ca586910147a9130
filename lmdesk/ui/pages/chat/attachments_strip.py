"""Thumbnails of pictures: those waiting in the composer (with ×), and those of a message."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

THUMB = 72


def thumbnail(data: bytes, side: int = THUMB) -> QPixmap:
    image = QImage.fromData(data)
    if image.isNull():
        return QPixmap()
    return QPixmap.fromImage(
        image.scaled(
            side,
            side,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    )


class AttachmentsStrip(QWidget):
    removed = Signal(int)
    """index of the picture the person took off (composer only)."""

    def __init__(self, *, removable: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._removable = removable
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.setSpacing(6)
        self._row.addStretch(1)
        self.thumbnails: list[QLabel] = []
        self.hide()

    def set_images(self, images: list[tuple[str, bytes]]) -> None:
        while self._row.count() > 1:
            item = self._row.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()
                widget.deleteLater()
        self.thumbnails = []
        for index, (name, data) in enumerate(images):
            cell = QWidget()
            box = QVBoxLayout(cell)
            box.setContentsMargins(0, 0, 0, 0)
            label = QLabel()
            label.setPixmap(thumbnail(data))
            label.setToolTip(name)
            label.setStyleSheet("border: 1px solid palette(mid); border-radius: 6px;")
            box.addWidget(label)
            if self._removable:
                remove = QToolButton()
                remove.setText("×")
                remove.setToolTip(f"Take {name} off this message")
                remove.clicked.connect(lambda _c=False, i=index: self.removed.emit(i))
                box.addWidget(remove, 0, Qt.AlignmentFlag.AlignHCenter)
            self._row.insertWidget(self._row.count() - 1, cell)
            self.thumbnails.append(label)
        self.setVisible(bool(images))
