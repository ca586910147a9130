"""The test hub's data: repositories, files, faults and the request log."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any, Literal

TEXT_SUFFIXES = (".md", ".json", ".txt", ".gitattributes", ".jinja")


@dataclass
class Fault:
    """What to do wrong when serving a file. ``times`` bounds how many GETs the body faults hit."""

    cut_after: int | None = None  # close the connection after this many body bytes
    stall_after: int | None = None  # stop sending after this many body bytes ...
    stall_s: float | None = None  # ... for this long (None: until HubServer.release_stalls())
    error_500: int = 0  # answer 500 to the next N resolve requests (HEAD or GET)
    wrong_sha256: bool = False  # claim an LFS sha256 (and ETag) that the bytes do not have
    throttle_bps: int | None = None  # send at most this many bytes per second
    times: int | None = None  # GETs the cut/stall/throttle apply to (None: every GET)


@dataclass
class RateLimit:
    """Answer 429 to the next ``times`` requests whose path holds ``path_part`` ('' : any).

    ``style`` picks the headers, as the hub and its CDN send them: the IETF ``RateLimit``
    pair (``"api";r=0;t=N`` and its policy) with ``Retry-After``, ``Retry-After`` in
    seconds alone, ``Retry-After`` as an HTTP date, or ``RateLimit-Reset`` alone.
    """

    times: int
    reset_s: int = 1
    path_part: str = ""
    style: Literal["ratelimit", "retry-after", "http-date", "reset"] = "ratelimit"

    def headers(self) -> dict[str, str]:
        if self.style == "retry-after":
            return {"Retry-After": str(self.reset_s)}
        if self.style == "http-date":
            return {"Retry-After": formatdate(time.time() + self.reset_s, usegmt=True)}
        if self.style == "reset":
            return {"RateLimit-Reset": str(self.reset_s)}
        return {
            "RateLimit": f'"api";r=0;t={self.reset_s}',
            "RateLimit-Policy": '"fixed window";"api";q=1000;w=300',
            "Retry-After": str(self.reset_s),
        }


@dataclass
class HubFile:
    """One file of a repository: bytes in memory or a path on disk."""

    path: str
    source: Path | bytes
    lfs: bool
    _sha256: str | None = None
    _blob_id: str | None = None

    @property
    def size(self) -> int:
        return len(self.source) if isinstance(self.source, bytes) else self.source.stat().st_size

    def read(self, offset: int, size: int) -> bytes:
        if isinstance(self.source, bytes):
            return self.source[offset : offset + size]
        with self.source.open("rb") as f:
            f.seek(offset)
            return f.read(size)

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            digest = hashlib.sha256()
            for offset in range(0, self.size, 8 << 20):
                digest.update(self.read(offset, 8 << 20))
            self._sha256 = digest.hexdigest()
        return self._sha256

    @property
    def blob_id(self) -> str:
        """The git object id: of the LFS pointer for LFS files, of the content otherwise."""
        if self._blob_id is None:
            body = self.pointer() if self.lfs else self.read(0, self.size)
            self._blob_id = hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()
        return self._blob_id

    def pointer(self) -> bytes:
        return (
            f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\n"
            f"size {self.size}\n"
        ).encode()


@dataclass
class HubRepo:
    """A model repository as the hub lists it."""

    repo_id: str
    files: dict[str, HubFile]
    author: str
    downloads: int = 0
    likes: int = 0
    trending_score: int = 0
    last_modified: str = "2024-01-01T00:00:00.000Z"
    created_at: str = "2023-06-01T00:00:00.000Z"
    tags: list[str] = field(default_factory=list)
    gated: bool | str = False  # False, "auto" or "manual"
    gguf: dict[str, Any] | None = None  # {"total": params, "architecture": ..., ...}
    card_data: dict[str, Any] | None = None  # the model card's YAML front matter, parsed
    private: bool = False
    granted: set[str] = field(default_factory=set)
    commit: str = ""

    def entry(self) -> dict[str, Any]:
        extra: dict[str, Any] = {} if self.gguf is None else {"gguf": self.gguf}
        return extra | {
            "_id": hashlib.md5(self.repo_id.encode()).hexdigest()[:24],
            "id": self.repo_id,
            "modelId": self.repo_id,
            "author": self.author,
            "sha": self.commit,
            "lastModified": self.last_modified,
            "createdAt": self.created_at,
            "private": self.private,
            "gated": self.gated,
            "disabled": False,
            "downloads": self.downloads,
            "likes": self.likes,
            "trendingScore": self.trending_score,
            "tags": self.tags,
            "library_name": "gguf" if "gguf" in self.tags else None,
            "pipeline_tag": "text-generation",
        }


DEFAULT_LIST_FIELDS = (
    "_id",
    "id",
    "likes",
    "trendingScore",
    "private",
    "downloads",
    "tags",
    "pipeline_tag",
    "library_name",
    "createdAt",
    "modelId",
)
SORT_KEYS = {
    "downloads": "downloads",
    "likes": "likes",
    "trendingScore": "trending_score",
    "lastModified": "last_modified",
    "createdAt": "created_at",
}


@dataclass
class RequestRecord:
    method: str
    path: str
    headers: dict[str, str]
    status: int = 0
    body_bytes: int = 0
