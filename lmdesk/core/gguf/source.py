"""Where header bytes come from: a local file, an open stream, or ranges over HTTP.

The reader asks a `Cursor` for bytes; the cursor fetches them from a `ByteSource`
in chunks that grow as the header turns out to be longer, so a remote header
costs a few requests and never the whole file.
"""

from __future__ import annotations

import os
import stat
import struct
from typing import Any, BinaryIO, Protocol, runtime_checkable

from .errors import GGUFError

FIRST_CHUNK = 64 * 1024
MAX_CHUNK = 8 * 1024 * 1024


@runtime_checkable
class RangeSource(Protocol):
    """Anything that can return ``size`` bytes starting at ``offset`` (HTTP Range, say)."""

    size: int | None

    def read_range(self, offset: int, size: int) -> bytes: ...


class StreamSource:
    """A seekable binary stream (an open file) seen as a range source."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        try:
            self.size: int | None = os.fstat(stream.fileno()).st_size
        except (AttributeError, OSError, ValueError):
            position = stream.tell()
            self.size = stream.seek(0, os.SEEK_END)
            stream.seek(position)

    def read_range(self, offset: int, size: int) -> bytes:
        self._stream.seek(offset)
        return self._stream.read(size)


class Cursor:
    """Sequential little- or big-endian reads over a range source, with bounds checks."""

    def __init__(self, source: RangeSource) -> None:
        self._source = source
        self.size = source.size
        self._buffer = b""
        self._buffer_start = 0
        self._pos = 0
        self._chunk = FIRST_CHUNK
        self.bytes_fetched = 0
        self.endian = "<"

    @property
    def position(self) -> int:
        return self._pos

    def remaining(self) -> int | None:
        """Bytes left in the source, when its size is known."""
        return None if self.size is None else self.size - self._pos

    def _fill(self, n: int) -> None:
        """Make sure ``n`` bytes from the current position are buffered."""
        offset = self._pos - self._buffer_start
        if offset + n <= len(self._buffer):
            return
        keep = self._buffer[offset:]
        start = self._pos + len(keep)
        want = max(n - len(keep), self._chunk)
        if self.size is not None:
            want = min(want, max(self.size - start, 0))
        data = self._source.read_range(start, want) if want > 0 else b""
        self.bytes_fetched += len(data)
        self._chunk = min(self._chunk * 2, MAX_CHUNK)
        self._buffer = keep + data
        self._buffer_start = self._pos
        if len(self._buffer) < n:
            raise GGUFError(
                f"the header is truncated: it ends at byte {self._pos + len(self._buffer):,} "
                f"while {n:,} more bytes were needed at byte {self._pos:,}"
            )

    def take(self, n: int) -> bytes:
        self._fill(n)
        offset = self._pos - self._buffer_start
        self._pos += n
        return self._buffer[offset : offset + n]

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        fmt = self.endian + fmt
        size = struct.calcsize(fmt)
        self._fill(size)
        values = struct.unpack_from(fmt, self._buffer, self._pos - self._buffer_start)
        self._pos += size
        return values

    def u32(self) -> int:
        return int(self.unpack("I")[0])

    def u64(self) -> int:
        return int(self.unpack("Q")[0])

    def strings(self, count: int, max_len: int) -> list[str]:
        """Read ``count`` length-prefixed UTF-8 strings (a tokenizer's vocabulary: hot loop)."""
        out: list[str] = []
        append = out.append
        unpack_len = struct.Struct(self.endian + "Q").unpack_from
        buffer, base, pos = self._buffer, self._buffer_start, self._pos
        for _ in range(count):
            at = pos - base
            if at + 8 > len(buffer):
                self._pos = pos
                self._fill(8)
                buffer, base = self._buffer, self._buffer_start
                at = pos - base
            (length,) = unpack_len(buffer, at)
            if length > max_len:
                raise GGUFError(f"a string at byte {pos:,} claims {length:,} bytes")
            pos += 8
            at += 8
            if at + length > len(buffer):
                self._pos = pos
                self._fill(length)
                buffer, base = self._buffer, self._buffer_start
                at = pos - base
            append(buffer[at : at + length].decode("utf-8", "replace"))
            pos += length
        self._pos = pos
        return out


def open_source(path: str | os.PathLike[str]) -> tuple[BinaryIO, StreamSource]:
    """Open a local file as a range source; the caller closes the returned stream.

    Only a regular file is read: a FIFO or a device named ``*.gguf`` would block
    ``open()`` or ``read()`` forever, so it is opened without blocking and refused.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as exc:
        raise GGUFError(f"no such file: {path}") from exc
    except IsADirectoryError as exc:
        raise GGUFError(f"{path} is a folder, not a GGUF file") from exc
    except OSError as exc:
        raise GGUFError(f"cannot open {path}: {exc.strerror}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise GGUFError(f"{path} is a folder, not a GGUF file")
        if not stat.S_ISREG(mode):
            raise GGUFError(f"{path} is not a regular file (a pipe or a device), not a GGUF file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        stream = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    return stream, StreamSource(stream)
