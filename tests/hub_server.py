"""A local Hugging Face hub on 127.0.0.1 for tests, spoken to by the real huggingface_hub client.

It implements what huggingface_hub 2.4 and lmdesk need (DESIGN.md): model search with
cursor pages in a ``Link: <...>; rel="next"`` header, model info with blob metadata (and
``gguf``, ``cardData``, ``gated``), file trees, ``HEAD``/``GET`` on
``/{repo}/resolve/{rev}/{file}`` with ranges, gated and private repos with bearer tokens,
and ``/api/whoami-v2``. It never sends ``X-Xet-Hash``, so clients download over plain HTTP.

Like the real hub, LFS files are not served from the API host: ``/resolve/`` answers 302
(with ``X-Linked-Size`` and ``X-Linked-Etag``) to a signed URL that expires, on a second
server (the CDN, another port), which refuses requests carrying ``Authorization`` (400,
as S3 and CloudFront do), has its own ETag (not the sha256; `cdn_etag_salt` changes it
for the same bytes) and honours ``If-Range`` strictly. Small (non-LFS) files answer 307 to
``/api/resolve-cache/...``. `rate_limit()` makes the next requests answer 429 with the
hub's ``RateLimit`` / ``Retry-After`` headers.

Faults are set per file or globally while the server runs (`Fault`): cut the connection,
stall, answer 500, claim a wrong sha256, throttle. Bytes served are counted per file, and
every request is logged, so tests assert on what went over the wire instead of sleeping.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import sys
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hub_handler import HubHandler
from hub_model import TEXT_SUFFIXES, Fault, HubFile, HubRepo, RateLimit, RequestRecord

__all__ = [
    "Fault",
    "HubFile",
    "HubRepo",
    "HubServer",
    "RateLimit",
    "RequestRecord",
    "gguf_stub",
    "isolate_hf_home",
    "random_bytes",
    "wait_until",
]


class HubServer:
    """The hub: register repos and tokens, set faults, read counters. A context manager."""

    def __init__(self, *, page_size: int = 1000, tree_page_size: int = 1000) -> None:
        self.page_size = page_size
        self.tree_page_size = tree_page_size
        self.redirect_lfs = True  # LFS files answer 302 to the CDN, as on the hub
        self.url_ttl_s = 3600.0  # how long a signed CDN URL is valid
        self.cdn_etag_salt = ""  # change it: the CDN's ETag changes, the bytes do not
        self._secret = random.Random().randbytes(16)
        self._rate_limits: list[RateLimit] = []
        self._cdn_httpd: ThreadingHTTPServer | None = None
        self.repos: dict[str, HubRepo] = {}
        self.tokens: dict[str, str] = {}
        self._faults: dict[tuple[str, str] | None, Fault] = {}
        self._lock = threading.Lock()
        self._stall_release = threading.Condition(self._lock)
        self._stall_generation = 0
        self._served: dict[tuple[str, str], int] = {}
        self.log: list[RequestRecord] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # -- registration ---------------------------------------------------------------------
    def add_repo(
        self,
        repo_id: str,
        files: dict[str, Path | bytes],
        *,
        card: str | None = None,
        lfs: set[str] | None = None,
        **info: Any,
    ) -> HubRepo:
        """Register a repo: ``files`` maps its paths to bytes or local files; ``card`` is README."""
        hub_files: dict[str, HubFile] = {}
        all_files = dict(files)
        if card is not None:
            all_files["README.md"] = card.encode()
        for path, source in all_files.items():
            is_lfs = path in lfs if lfs is not None else not path.endswith(TEXT_SUFFIXES)
            hub_files[path] = HubFile(
                path, Path(source) if isinstance(source, str) else source, is_lfs
            )
        info.setdefault("author", repo_id.split("/")[0])
        commit = hashlib.sha1(f"{repo_id}:{sorted(all_files)}".encode()).hexdigest()
        repo = HubRepo(repo_id=repo_id, files=hub_files, commit=commit, **info)
        with self._lock:
            self.repos[repo_id] = repo
        return repo

    def add_token(self, token: str, user: str) -> None:
        self.tokens[token] = user

    def grant(self, repo_id: str, user: str) -> None:
        self.repos[repo_id].granted.add(user)

    # -- the CDN and rate limits ----------------------------------------------------------
    def sign(self, path: str, expires: int) -> str:
        return hmac.new(self._secret, f"{path}\n{expires}".encode(), "sha256").hexdigest()[:32]

    def signed_url(self, path: str, *, ttl_s: float | None = None) -> str:
        """A CDN URL for ``path`` that stops working after ``ttl_s`` (default `url_ttl_s`)."""
        expires = int(time.time() + (self.url_ttl_s if ttl_s is None else ttl_s))
        query = urlencode({"Expires": expires, "Signature": self.sign(path, expires)})
        return f"{self.cdn_endpoint}{path}?{query}"

    def cdn_etag(self, f: HubFile) -> str:
        return '"' + hashlib.md5(f"{f.sha256}{self.cdn_etag_salt}".encode()).hexdigest() + '"'

    def rate_limit(
        self,
        times: int,
        *,
        reset_s: int = 1,
        path_part: str = "",
        style: str = "ratelimit",
    ) -> RateLimit:
        """Answer 429 to the next ``times`` requests to the hub whose path holds ``path_part``."""
        limit = RateLimit(times, reset_s, path_part, style)  # type: ignore[arg-type]
        with self._lock:
            self._rate_limits.append(limit)
        return limit

    def take_rate_limit(self, path: str) -> RateLimit | None:
        with self._lock:
            for limit in self._rate_limits:
                if limit.times > 0 and limit.path_part in path:
                    limit.times -= 1
                    return limit
        return None

    # -- faults and counters --------------------------------------------------------------
    def set_fault(
        self, fault: Fault, *, repo_id: str | None = None, filename: str | None = None
    ) -> None:
        """Apply ``fault`` to one file (repo_id and filename) or, with neither, to every file."""
        with self._lock:
            self._faults[(repo_id, filename) if repo_id and filename else None] = fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
        self.release_stalls()

    def release_stalls(self) -> None:
        """Let every stalled response (``stall_s=None``) go on sending."""
        with self._stall_release:
            self._stall_generation += 1
            self._stall_release.notify_all()

    def fault_for(self, repo_id: str, filename: str) -> Fault | None:
        with self._lock:
            return self._faults.get((repo_id, filename)) or self._faults.get(None)

    def bytes_served(self, repo_id: str, filename: str) -> int:
        """Body bytes sent for this file so far, over every GET."""
        with self._lock:
            return self._served.get((repo_id, filename), 0)

    def reset_counters(self) -> None:
        with self._lock:
            self._served.clear()
            self.log.clear()

    def requests_for(self, path_part: str, method: str | None = None) -> list[RequestRecord]:
        with self._lock:
            return [
                r
                for r in self.log
                if path_part in r.path and (method is None or r.method == method)
            ]

    def _count(self, key: tuple[str, str], n: int) -> None:
        with self._lock:
            self._served[key] = self._served.get(key, 0) + n

    def _stall(self, seconds: float | None) -> None:
        with self._stall_release:
            generation = self._stall_generation
            self._stall_release.wait_for(
                lambda: self._stall_generation != generation or self._httpd is None, seconds
            )

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        assert self._httpd is not None, "the hub is not running"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def cdn_endpoint(self) -> str:
        """The storage server LFS downloads are redirected to: another origin (port)."""
        assert self._cdn_httpd is not None, "the hub is not running"
        host, port = self._cdn_httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> HubServer:
        self._httpd = self._serve("hub-server", cdn=False)
        self._cdn_httpd = self._serve("hub-cdn", cdn=True)
        return self

    def _serve(self, name: str, *, cdn: bool) -> ThreadingHTTPServer:
        httpd = _QuietServer(("127.0.0.1", 0), HubHandler)
        httpd.daemon_threads = True
        httpd.hub = self  # type: ignore[attr-defined]
        httpd.is_cdn = cdn  # type: ignore[attr-defined]
        thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
        return httpd

    def stop(self) -> None:
        servers, self._httpd, self._cdn_httpd = (self._httpd, self._cdn_httpd), None, None
        self.release_stalls()
        for httpd in servers:
            if httpd is not None:
                httpd.shutdown()
                httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up (a paused or cancelled download) are normal here, not errors."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


# -- test helpers -----------------------------------------------------------------------------


def isolate_hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point huggingface_hub's HF_HOME paths at a temporary folder, with no stored token.

    huggingface_hub reads HF_HOME at import, so the module constants are patched as well as
    the environment (for subprocesses). An empty agent-harness registry is cached there, so
    building request headers never fetches it from the real hub.
    """
    from huggingface_hub import constants

    home = tmp_path / "hf_home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    registry = home / ".agent_harnesses.json"
    registry.write_text(json.dumps({"standardEnvVars": [], "harnesses": {}}))
    monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(registry))
    return home


def wait_until(
    predicate: Callable[[], object], *, timeout: float = 10.0, what: str = "condition"
) -> None:
    """Wait for ``predicate()`` to be true, checking often; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


def random_bytes(size: int, seed: int = 0) -> bytes:
    """Deterministic incompressible bytes."""
    return random.Random(seed).randbytes(size)


def gguf_stub(metadata: dict[str, str], *, pad_to: int = 0) -> bytes:
    """A tiny valid GGUF v3 header with string metadata and no tensors, padded with zeros."""
    out = bytearray(b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little"))
    out += len(metadata).to_bytes(8, "little")
    for key, value in metadata.items():
        out += len(key).to_bytes(8, "little") + key.encode()
        out += (8).to_bytes(4, "little") + len(value).to_bytes(8, "little") + value.encode()
    return bytes(out.ljust(pad_to, b"\0"))
