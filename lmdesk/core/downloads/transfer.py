"""One file's bytes from the network into its partial file, hashed on the way.

A `Transfer` owns the open ``.part`` file and the running sha256 of the bytes written
so far. `fetch()` makes one ``GET`` with ``Range: bytes=N-`` and streams the rest in
~1 MiB writes; the job calls it again after a dropped connection or a stall, and the
transfer carries on from the exact byte it has. Another thread may `interrupt()` a
blocked read (pause, cancel) by shutting the socket down.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx2

from lmdesk.core.hub.session import get_session, hf_raise_for_status
from lmdesk.core.units import MiB, format_size

from .errors import BadResponse, DiskFull, RemoteChanged, Stalled, WriteFailed
from .sidecar import PartialState

WRITE_CHUNK = 1 * MiB
_SPACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_CONTENT_RANGE_START = re.compile(r"bytes (\d+)-")
_pwrite = os.pwrite  # the one write call, so a test can simulate a failing disk


class Transfer:
    """The open partial file of one download and the stream that fills it."""

    def __init__(
        self,
        state: PartialState,
        part_path: Path,
        sidecar_path: Path,
        *,
        headers: dict[str, str],
        stall_timeout_s: float,
        checkpoint_bytes: int,
        checkpoint_interval_s: float,
        on_bytes: Callable[[int], None],
        should_stop: Callable[[], bool],
        client: httpx2.Client | None = None,
    ) -> None:
        """``client``: the HTTP client to stream with; huggingface_hub's session by default."""
        assert state.url is not None and state.size is not None, "resolve the file first"
        self.state, self.part_path, self.sidecar_path = state, part_path, sidecar_path
        self._headers = headers | {"Accept-Encoding": "identity"}
        self._stall_s = stall_timeout_s
        self._checkpoint_bytes = checkpoint_bytes
        self._checkpoint_interval_s = checkpoint_interval_s
        self._checkpointed_at = time.monotonic()
        self._on_bytes, self._should_stop = on_bytes, should_stop
        self._client = client
        self.done = 0  # bytes written to the partial and hashed
        self.received = 0  # done + bytes buffered in memory
        self._checkpointed = 0
        self._hasher = hashlib.sha256()
        self._buffer = bytearray()
        self._fd: int | None = None
        self._socket: socket.socket | None = None
        self._socket_lock = threading.Lock()

    @property
    def url(self) -> str:
        assert self.state.url is not None
        return self.state.url

    @property
    def size(self) -> int:
        assert self.state.size is not None
        return self.state.size

    def open(self) -> bool:
        """Open the partial, keep its checkpointed bytes and hash them; False if stopped."""
        self.part_path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.part_path, os.O_RDWR | os.O_CREAT, 0o644)
        keep = min(self.state.bytes_done, os.fstat(self._fd).st_size, self.size)
        os.ftruncate(self._fd, keep)
        while self.done < keep:
            if self._should_stop():
                return False
            block = os.pread(self._fd, min(8 * WRITE_CHUNK, keep - self.done), self.done)
            if not block:
                break
            self._hasher.update(block)
            self.done += len(block)
        self.received = self._checkpointed = self.done
        return True

    def still_valid(self) -> bool:
        """True while the open partial is still the file on disk, holding our bytes."""
        if self._fd is None:
            return False
        try:
            stat = os.fstat(self._fd)
            return os.path.samestat(stat, os.stat(self.part_path)) and stat.st_size == self.done
        except OSError:
            return False

    @property
    def complete(self) -> bool:
        return self.done == self.size

    def fetch(self) -> None:
        """Stream the rest of the file; returns when complete or when asked to stop."""
        headers = dict(self._headers)
        if self.done:
            headers["Range"] = f"bytes={self.done}-"
            if self.state.etag:
                headers["If-Range"] = self.state.etag
        try:
            with (self._client or get_session()).stream(
                "GET", self.url, headers=headers, timeout=httpx2.Timeout(self._stall_s)
            ) as response:
                self._attach(response)
                try:
                    self._consume(response)
                finally:
                    self._detach()
        except httpx2.ReadTimeout as exc:
            raise Stalled(f"No data arrived for {self._stall_s:g} s") from exc
        finally:
            self.flush()

    def _consume(self, r: httpx2.Response) -> None:
        if self._should_stop():
            return
        if r.status_code == 416 and self.done == self.size:
            return
        if r.status_code >= 400:
            r.read()
            hf_raise_for_status(r)
        if r.status_code == 206:
            match = _CONTENT_RANGE_START.match(r.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != self.done:
                raise BadResponse("The server sent the wrong part of the file")
        elif self.done:
            etag, known = r.headers.get("ETag"), self.state.etag
            if etag and known and etag != known:
                # If-Range did not match: new bytes, or the same ones under a new tag. With
                # a sha256 the job looks the file up again and its sha256 tells which, so
                # nothing is dropped yet; without one, start over.
                self.state.etag = etag
                if self.state.sha256 is None:
                    self.restart_from_zero()
                raise RemoteChanged("The file's tag changed on the server; checking the file")
            self.restart_from_zero()  # the server ignored our Range
        self.state.etag = r.headers.get("ETag") or self.state.etag
        for piece in r.iter_raw():
            self._buffer += piece
            self.received += len(piece)
            self._on_bytes(len(piece))
            if self.received > self.size:
                self.restart_from_zero()
                raise BadResponse("The server sent more bytes than the file has")
            if len(self._buffer) >= WRITE_CHUNK:
                self.flush()
            if self._should_stop():
                return

    def flush(self) -> None:
        """Write the buffered bytes, then hash them; checkpoint now and then."""
        if not self._buffer or self._fd is None:
            return
        data, self._buffer = self._buffer, bytearray()
        try:
            _write_at(self._fd, data, self.done)
        except OSError as exc:
            self.received = self.done
            os.ftruncate(self._fd, self.done)  # keep only whole, hashed bytes
            if exc.errno in _SPACE_ERRNOS:
                raise DiskFull(
                    f"The disk is full: {format_size(self.done)} of '{self.state.filename}' were "
                    "saved and kept. Free some space, then resume the download."
                ) from exc
            raise WriteFailed(f"Could not write '{self.part_path}': {exc.strerror}.") from exc
        self._hasher.update(data)
        self.done += len(data)
        if (
            self.done - self._checkpointed >= self._checkpoint_bytes
            and time.monotonic() - self._checkpointed_at >= self._checkpoint_interval_s
        ):
            self.checkpoint()

    def checkpoint(self) -> None:
        """fsync the partial, then record how many bytes it safely holds (best effort)."""
        if self._fd is None:
            return
        try:
            os.fsync(self._fd)
            self.state.bytes_done = self.done
            self.state.save(self.sidecar_path)
            self._checkpointed, self._checkpointed_at = self.done, time.monotonic()
        except OSError:
            pass  # a full disk: the previous checkpoint stays, resuming re-fetches a little more

    def restart_from_zero(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
        self._hasher = hashlib.sha256()
        self._buffer.clear()
        self.done = self.received = self._checkpointed = 0

    def sha256(self) -> str:
        return self._hasher.hexdigest()

    def close(self) -> None:
        """Save what was received and close the partial file."""
        if self._fd is None:
            return
        try:
            self.flush()
        finally:
            self.checkpoint()
            os.close(self._fd)
            self._fd = None

    def interrupt(self) -> None:
        """Wake a read blocked on the network (from another thread)."""
        with self._socket_lock:
            if self._socket is not None:
                with contextlib.suppress(OSError):
                    self._socket.shutdown(socket.SHUT_RDWR)

    def _attach(self, response: httpx2.Response) -> None:
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        with self._socket_lock:
            self._socket = sock if isinstance(sock, socket.socket) else None

    def _detach(self) -> None:
        with self._socket_lock:
            self._socket = None


def _write_at(fd: int, data: bytearray, offset: int) -> None:
    view = memoryview(data)
    written = 0
    while written < len(view):
        written += _pwrite(fd, view[written:], offset + written)
