"""Pictures a person attaches, made ready off the GUI thread: checked, and made small.

`prepare_image` reads the header first (`core.images`: not an image, or over 50 megapixels,
is refused with a sentence before anything is decoded), then decodes with Qt at most
`MAX_SIDE` pixels a side (QImageReader scales while it decodes) and keeps a PNG: a vision
model sees a few hundred pixels a side, and the chat keeps the picture in its database.
QImage (not QPixmap) is safe on a worker thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSize
from PySide6.QtGui import QImage, QImageReader

from lmdesk.core.images import ImageError, image_facts

MAX_SIDE = 1536


def prepare_image(name: str, data: bytes) -> tuple[str, bytes]:
    """(a name ending in .png, PNG bytes at most MAX_SIDE a side); `ImageError` if unusable."""
    facts = image_facts(data, name=name)
    buffer = QBuffer()
    buffer.setData(QByteArray(data))
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer)
    longest = max(facts.width, facts.height)
    if longest > MAX_SIDE:
        scale = MAX_SIDE / longest
        reader.setScaledSize(
            QSize(max(1, round(facts.width * scale)), max(1, round(facts.height * scale)))
        )
    image = reader.read()
    if image.isNull():
        raise ImageError(f"{name} could not be decoded: {reader.errorString()}")
    return f"{Path(name).stem or 'image'}.png", png_bytes(image)


def png_bytes(image: QImage) -> bytes:
    out = QBuffer()
    out.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(out, "PNG")
    return bytes(out.data().data())


def read_and_prepare(path: str) -> tuple[str, bytes]:
    """An image file from disk, prepared; a file that cannot be read says why."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(f"{Path(path).name} could not be read: {exc.strerror or exc}") from exc
    return prepare_image(Path(path).name, data)
