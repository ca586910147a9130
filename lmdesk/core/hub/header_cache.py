"""Remote GGUF headers, fetched once over HTTP ranges and kept on disk.

A person browsing a repository looks at several quantizations, and comes back to them;
the header (metadata and tensor list) of each is a few hundred kilobytes of a file of many
gigabytes. The bytes the reader needed are cached under a key made of the repository, the
file's sha256 (or the revision when it is not known) and the file name, so the second look
costs no request at all.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from lmdesk.core.gguf import GGUFError, GGUFHeader, RangeSource, read_header

from .range_source import HttpRangeSource
from .rate_limit import OnWait


class _PrefixSource:
    """Reads served from a growing prefix of the file; past it, from ``upstream`` (if any)."""

    def __init__(
        self, prefix: bytes, size: int | None, upstream: Callable[[], RangeSource] | None
    ) -> None:
        self.size = size
        self.prefix = bytearray(prefix)
        self._make_upstream = upstream
        self._upstream: RangeSource | None = None

    def read_range(self, offset: int, size: int) -> bytes:
        end = offset + size if self.size is None else min(offset + size, self.size)
        if end > len(self.prefix) and self._make_upstream is not None:
            if self._upstream is None:
                self._upstream = self._make_upstream()
            missing = self._upstream.read_range(len(self.prefix), end - len(self.prefix))
            self.prefix += missing
            if self.size is None:
                self.size = self._upstream.size
        return bytes(self.prefix[offset:end])


def header_cache_key(repo_id: str, filename: str, *, revision: str, sha256: str | None) -> str:
    version = f"sha256:{sha256}" if sha256 else f"rev:{revision}"
    return hashlib.sha256(f"{repo_id}\0{version}\0{filename}".encode()).hexdigest()[:40]


def read_remote_header(
    repo_id: str,
    filename: str,
    *,
    endpoint: str,
    cache_dir: str | os.PathLike[str],
    token: str | None = None,
    revision: str = "main",
    sha256: str | None = None,
    size: int | None = None,
    on_rate_limit: OnWait | None = None,
) -> GGUFHeader:
    """The GGUF header of a file on the hub, from the disk cache when it was read before.

    Pass ``sha256`` (the LFS id from `list_gguf_files`) when known: the cache is then keyed
    by content and never stale; without it the key is ``revision``. ``on_rate_limit`` hears
    the countdown while a 429 from the hub is waited out.
    """
    folder = Path(cache_dir)
    key = header_cache_key(repo_id, filename, revision=revision, sha256=sha256)
    data_path, meta_path = folder / f"{key}.bin", folder / f"{key}.json"
    cached = _load(data_path, meta_path)
    if cached is not None:
        try:
            return _with_size(read_header(_PrefixSource(cached[0], cached[1], None)), cached[1])
        except GGUFError:
            pass  # an old or damaged entry: read it again from the hub

    def connect() -> RangeSource:
        return HttpRangeSource.for_file(
            repo_id,
            filename,
            endpoint=endpoint,
            token=token,
            revision=revision,
            size=size,
            on_rate_limit=on_rate_limit,
        )

    source = _PrefixSource(b"", size, connect)
    header = read_header(source)
    keep = bytes(source.prefix[: max(header.header_bytes_read, header.data_offset)])
    _save(folder, data_path, meta_path, keep, source.size, repo_id, filename)
    return _with_size(header, source.size)


def _with_size(header: GGUFHeader, size: int | None) -> GGUFHeader:
    """The reader leaves ``file_size`` unset for range sources; the hub told us."""
    return header if header.file_size is not None else replace(header, file_size=size)


def _load(data_path: Path, meta_path: Path) -> tuple[bytes, int | None] | None:
    try:
        meta = json.loads(meta_path.read_text())
        data = data_path.read_bytes()
    except (OSError, ValueError):
        return None
    if len(data) != meta.get("cached_bytes"):
        return None
    size = meta.get("size")
    return data, size if isinstance(size, int) else None


def _save(
    folder: Path,
    data_path: Path,
    meta_path: Path,
    data: bytes,
    size: int | None,
    repo_id: str,
    filename: str,
) -> None:
    meta = {"repo_id": repo_id, "filename": filename, "size": size, "cached_bytes": len(data)}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path, payload in ((data_path, data), (meta_path, json.dumps(meta).encode())):
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(payload)
            os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs a request next time
