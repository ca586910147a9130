"""Byte ranges of a file on the hub over HTTP, for reading a GGUF header before downloading.

The GGUF reader (`lmdesk.core.gguf`) asks for growing chunks from the start of the file
and stops once the header is parsed, so a 20 GB model costs a few hundred kilobytes.
"""

from __future__ import annotations

import re

import httpx2
from huggingface_hub import hf_hub_url

from .errors import HubError, hub_errors
from .session import get_session, hf_raise_for_status, hub_headers

_CONTENT_RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)")


class HttpRangeSource:
    """A file on the hub read with HTTP ``Range`` requests (redirects followed).

    ``size`` is the file size once known (given, or learned from the first answer);
    ``bytes_fetched`` counts body bytes received, ``requests`` the GETs made.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        size: int | None = None,
        timeout_s: float = 30.0,
        retries: int = 2,
        repo_id: str | None = None,
        filename: str | None = None,
    ) -> None:
        self.url = url
        self.size = size
        self.etag: str | None = None
        self.bytes_fetched = 0
        self.requests = 0
        self._headers = hub_headers(token) | {"Accept-Encoding": "identity"}
        self._timeout = timeout_s
        self._retries = retries
        self._names = {"repo_id": repo_id, "filename": filename}

    @classmethod
    def for_file(
        cls,
        repo_id: str,
        filename: str,
        *,
        endpoint: str,
        token: str | None = None,
        revision: str = "main",
        size: int | None = None,
    ) -> HttpRangeSource:
        url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint)
        return cls(url, token=token, size=size, repo_id=repo_id, filename=filename)

    def read_range(self, offset: int, size: int) -> bytes:
        """``size`` bytes from ``offset`` (fewer at the end of the file)."""
        if self.size is not None:
            size = min(size, self.size - offset)
        if size <= 0 or offset < 0:
            return b""
        for attempt in range(self._retries + 1):
            try:
                with hub_errors(**self._names):
                    return self._get(offset, size)
            except HubError as error:
                if not error.retryable or attempt == self._retries:
                    raise
        raise AssertionError("unreachable")

    def _get(self, offset: int, size: int) -> bytes:
        headers = self._headers | {"Range": f"bytes={offset}-{offset + size - 1}"}
        self.requests += 1
        with get_session().stream("GET", self.url, headers=headers, timeout=self._timeout) as r:
            if r.status_code == 416:
                self._learn_size(r)
                return b""
            if r.status_code >= 400:
                r.read()
                hf_raise_for_status(r)
            self.etag = r.headers.get("ETag", self.etag)
            if r.status_code == 206:
                self._learn_size(r)
                data = r.read()
                self.bytes_fetched += len(data)
                return data[:size]
            return self._read_prefix_of_full_body(r, offset + size)[offset:]

    def _read_prefix_of_full_body(self, r: httpx2.Response, end: int) -> bytes:
        """A server that ignores ``Range`` sends the whole file: read only what is needed."""
        length = r.headers.get("Content-Length")
        if length is not None and self.size is None:
            self.size = int(length)
        data = bytearray()
        for chunk in r.iter_raw():
            data += chunk
            self.bytes_fetched += len(chunk)
            if len(data) >= end:
                break
        return bytes(data[:end])

    def _learn_size(self, r: httpx2.Response) -> None:
        match = _CONTENT_RANGE.match(r.headers.get("Content-Range", ""))
        if match and match.group(3) != "*":
            self.size = int(match.group(3))
