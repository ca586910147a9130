"""Byte ranges of a file on the hub over HTTP, for reading a GGUF header before downloading.

The GGUF reader (`lmdesk.core.gguf`) asks for growing chunks from the start of the file
and stops once the header is parsed, so a 20 GB model costs a few hundred kilobytes.

The hub answers ``/resolve/`` for a large file with a redirect to a signed URL on its CDN
(another origin, valid for a while). The first read follows it; later reads go straight
to that URL, without the ``Authorization`` header (the CDN refuses it, and the token is
not the CDN's business), until it expires or is refused, so one header costs one
``/resolve/`` call against the hub's rate limit, not one per read.
"""

from __future__ import annotations

import calendar
import re
import time
from urllib.parse import parse_qs, urlsplit

import httpx2
from huggingface_hub import hf_hub_url

from .errors import hub_errors
from .rate_limit import OnWait, retrying
from .session import get_session, hf_raise_for_status, hub_headers

_CONTENT_RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)")
REUSE_UNSTATED_S = 60.0  # a signed URL that does not say when it expires: reused this long
EXPIRY_MARGIN_S = 30.0  # stop using a signed URL this long before it expires


class HttpRangeSource:
    """A file on the hub read with HTTP ``Range`` requests (redirects followed).

    ``size`` is the file size once known (given, or learned from the first answer);
    ``bytes_fetched`` counts body bytes received, ``requests`` the GETs made and
    ``resolves`` those of them that went through ``url`` (the hub's resolver).
    ``on_rate_limit`` hears the countdown while a 429 is waited out.
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
        on_rate_limit: OnWait | None = None,
    ) -> None:
        self.url = url
        self.size = size
        self.etag: str | None = None
        self.bytes_fetched = 0
        self.requests = 0
        self.resolves = 0
        base = hub_headers(token) | {"Accept-Encoding": "identity"}
        self._headers = base
        self._cdn_headers = {k: v for k, v in base.items() if k.lower() != "authorization"}
        self._timeout = timeout_s
        self._retries = retries
        self._names = {"repo_id": repo_id, "filename": filename}
        self._on_rate_limit = on_rate_limit
        self._signed: str | None = None
        self._signed_until = 0.0

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
        on_rate_limit: OnWait | None = None,
    ) -> HttpRangeSource:
        url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint)
        return cls(
            url,
            token=token,
            size=size,
            repo_id=repo_id,
            filename=filename,
            on_rate_limit=on_rate_limit,
        )

    def read_range(self, offset: int, size: int) -> bytes:
        """``size`` bytes from ``offset`` (fewer at the end of the file)."""
        if self.size is not None:
            size = min(size, self.size - offset)
        if size <= 0 or offset < 0:
            return b""

        def attempt() -> bytes:
            with hub_errors(**self._names):
                return self._get(offset, size)

        return retrying(attempt, on_wait=self._on_rate_limit, retries=self._retries)

    def _get(self, offset: int, size: int) -> bytes:
        signed = self._signed if time.time() < self._signed_until else None
        url, headers = (signed, self._cdn_headers) if signed else (self.url, self._headers)
        headers = headers | {"Range": f"bytes={offset}-{offset + size - 1}"}
        self.requests += 1
        self.resolves += signed is None
        with get_session().stream("GET", url, headers=headers, timeout=self._timeout) as r:
            if signed and r.status_code in (400, 401, 403):
                self._signed = None  # expired or refused: through the resolver again
                r.read()
                return self._get(offset, size)
            if signed is None:
                self._remember_redirect(r)
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

    def _remember_redirect(self, r: httpx2.Response) -> None:
        """Keep the signed URL a redirect to another origin led to, until it expires."""
        final = str(r.url)
        if not r.history or r.status_code >= 400 or _origin(final) == _origin(self.url):
            return
        self._signed = final
        self._signed_until = _expires_at(final) - EXPIRY_MARGIN_S

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


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _expires_at(url: str) -> float:
    """When a signed URL stops working: CloudFront's ``Expires``, or S3's ``X-Amz-*``."""
    query = {k.lower(): v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    expires = query.get("expires", "")
    if expires.isdigit():
        return float(expires)
    amz_date, amz_expires = query.get("x-amz-date", ""), query.get("x-amz-expires", "")
    if amz_expires.isdigit():
        try:
            signed = float(calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")))
        except ValueError:
            signed = time.time()
        return signed + float(amz_expires)
    return time.time() + REUSE_UNSTATED_S + EXPIRY_MARGIN_S
