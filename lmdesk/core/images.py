"""Images a person attaches to a message: what they are and how big, read from their header.

The size is read without decoding (a 200-megapixel photo would take 600 MB to decode just
to be refused). PNG, JPEG, GIF, BMP and WebP are recognised: the formats llama.cpp's image
loader (stb_image, in libmtmd) reads, less the exotic ones. Anything else is not an image.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAX_PIXELS = 50_000_000
"""Larger pictures are refused: a vision model sees a few hundred pixels a side anyway, and
decoding one takes width x height x 3 bytes (150 MB at this limit)."""
MAX_BYTES = 64 * 1024 * 1024


class ImageError(ValueError):
    """An attachment that cannot be used as an image; ``str()`` is a sentence for a person."""


@dataclass(frozen=True)
class ImageFacts:
    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def image_facts(data: bytes, *, name: str = "the file") -> ImageFacts:
    """The format and size of an image file's bytes; `ImageError` if it is none we take."""
    if len(data) > MAX_BYTES:
        raise ImageError(f"{name} is {len(data) / 2**20:.0f} MB; images up to 64 MB are taken")
    facts = _read(data)
    if facts is None:
        raise ImageError(f"{name} is not an image lmdesk can read (PNG, JPEG, GIF, BMP, WebP)")
    if facts.width < 1 or facts.height < 1:
        raise ImageError(f"{name} says it is {facts.width}x{facts.height} pixels: not a picture")
    if facts.pixels > MAX_PIXELS:
        raise ImageError(
            f"{name} is {facts.width:,}x{facts.height:,} pixels ({facts.pixels / 1e6:.0f} "
            f"megapixels); the most lmdesk takes is {MAX_PIXELS / 1e6:.0f}: make it smaller first"
        )
    return facts


def _read(data: bytes) -> ImageFacts | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return ImageFacts("png", width, height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return ImageFacts("gif", width, height)
    if data.startswith(b"BM") and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return ImageFacts("bmp", width, abs(height))
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return _webp(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg(data)
    return None


def _jpeg(data: bytes) -> ImageFacts | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return ImageFacts("jpeg", width, height)
        i += 2 + length
    return None


def _webp(data: bytes) -> ImageFacts | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return ImageFacts("webp", width, height)
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return ImageFacts("webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return ImageFacts("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    return None
