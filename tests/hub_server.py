"""A local Hugging Face hub on 127.0.0.1 for tests, spoken to by the real huggingface_hub client.

It implements what huggingface_hub 2.4 and lmdesk need (DESIGN.md): model search with
cursor pages in a ``Link: <...>; rel="next"`` header, model info with blob metadata, file
trees, ``HEAD``/``GET`` on ``/{repo}/resolve/{rev}/{file}`` with ranges, gated and private
repos with bearer tokens, and ``/api/whoami-v2``. It never sends ``X-Xet-Hash``, so clients
download over plain HTTP.

Faults are set per file or globally while the server runs (`Fault`): cut the connection,
stall, answer 500, claim a wrong sha256, throttle. Bytes served are counted per file, and
every request is logged, so tests assert on what went over the wire instead of sleeping.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import random
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import pytest

TEXT_SUFFIXES = (".md", ".json", ".txt", ".gitattributes", ".jinja")
SEND_CHUNK = 256 * 1024


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
    private: bool = False
    granted: set[str] = field(default_factory=set)
    commit: str = ""

    def entry(self) -> dict[str, Any]:
        return {
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


class HubServer:
    """The hub: register repos and tokens, set faults, read counters. A context manager."""

    def __init__(self, *, page_size: int = 1000, tree_page_size: int = 1000) -> None:
        self.page_size = page_size
        self.tree_page_size = tree_page_size
        self.repos: dict[str, HubRepo] = {}
        self.tokens: dict[str, str] = {}
        self._faults: dict[tuple[str, str] | None, Fault] = {}
        self._lock = threading.Lock()
        self._stall_release = threading.Condition(self._lock)
        self._stall_generation = 0
        self._served: dict[tuple[str, str], int] = {}
        self.log: list[RequestRecord] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

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
        """Register a repo: ``files`` maps paths in it to bytes or local files; ``card`` is README."""
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

    def start(self) -> HubServer:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        httpd.hub = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.02,), name="hub-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        self.release_stalls()
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lmdesk-test-hub/1"

    @property
    def hub(self) -> HubServer:
        return self.server.hub  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read HubServer.log instead

    # -- plumbing -------------------------------------------------------------------------
    def _record(self) -> RequestRecord:
        record = RequestRecord(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}
        )
        with self.hub._lock:
            self.hub.log.append(record)
        self._rec = record
        return record

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        self._rec.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(200, json.dumps(payload).encode(), headers)

    def _error(
        self, status: int, code: str | None, message: str, headers: dict[str, str] | None = None
    ) -> None:
        extra = dict(headers or {})
        extra["X-Error-Message"] = message
        if code:
            extra["X-Error-Code"] = code
        self._send(status, json.dumps({"error": message}).encode(), extra)

    def _user(self) -> tuple[bool, str | None]:
        """(credentials valid, user). No header: (True, None)."""
        auth = self.headers.get("Authorization", "")
        if not auth:
            return True, None
        token = auth.removeprefix("Bearer ").strip()
        user = self.hub.tokens.get(token)
        return user is not None, user

    def _split(self) -> tuple[list[str], dict[str, list[str]]]:
        parts = urlsplit(self.path)
        return [unquote(p) for p in parts.path.split("/") if p], parse_qs(parts.query)

    def _find_repo(self, segments: list[str]) -> tuple[HubRepo | None, list[str]]:
        for n in (2, 1):
            repo = self.hub.repos.get("/".join(segments[:n]))
            if repo is not None:
                return repo, segments[n:]
        return None, segments[2:]

    def _visible(self, repo: HubRepo | None, user: str | None) -> bool:
        return repo is not None and (not repo.private or user in repo.granted | {repo.author})

    def _not_found(self, user: str | None) -> None:
        self._error(401 if user is None else 404, "RepoNotFound", "Repository not found")

    # -- routes ---------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        self._record()
        segments, query = self._split()
        valid, user = self._user()
        try:
            if not valid:
                self._error(401, None, "Invalid credentials in Authorization header")
            elif segments[:2] == ["api", "whoami-v2"]:
                self._whoami(user)
            elif segments[:2] == ["api", "models"] and len(segments) == 2:
                self._list_models(query, user)
            elif segments[:2] == ["api", "models"]:
                self._model_api(segments[2:], query, user)
            elif "resolve" in segments:
                self._resolve(segments, user)
            else:
                self._error(404, None, "Sorry, we can't find the page you are looking for.")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _whoami(self, user: str | None) -> None:
        if user is None:
            self._error(401, None, "Invalid credentials in Authorization header")
            return
        role = {"displayName": "lmdesk-tests", "role": "read"}
        self._json(
            {
                "type": "user",
                "name": user,
                "fullname": user.title(),
                "auth": {"type": "access_token", "accessToken": role},
            }
        )

    def _list_models(self, query: dict[str, list[str]], user: str | None) -> None:
        repos = [r for r in self.hub.repos.values() if self._visible(r, user)]
        if search := query.get("search", [""])[0].lower():
            repos = [r for r in repos if search in r.repo_id.lower()]
        if author := query.get("author", [""])[0]:
            repos = [r for r in repos if r.author == author]
        for tag in query.get("filter", []):
            repos = [r for r in repos if tag in r.tags]
        if sort := query.get("sort", [""])[0]:
            descending = query.get("direction", ["-1"])[0] != "1"
            attr = SORT_KEYS.get(sort, sort)
            repos.sort(key=lambda r: (getattr(r, attr), r.repo_id), reverse=descending)
        expand = query.get("expand")
        items = [
            {
                k: v
                for k, v in r.entry().items()
                if k in (*(expand or DEFAULT_LIST_FIELDS), "id", "_id")
            }
            for r in repos
        ]
        self._paged(items, query, self.hub.page_size)

    def _paged(self, items: list[Any], query: dict[str, list[str]], cap: int) -> None:
        """One page of ``items`` and, when more remain, a Link to the next (cursor) page."""
        start = int(base64.urlsafe_b64decode(query["cursor"][0])) if "cursor" in query else 0
        size = min(int(query.get("limit", [cap])[0]), cap)
        headers = {}
        if start + size < len(items):
            next_query = {k: v for k, v in query.items() if k != "cursor"}
            next_query["cursor"] = [base64.urlsafe_b64encode(str(start + size).encode()).decode()]
            path = urlsplit(self.path).path
            headers["Link"] = (
                f'<{self.hub.endpoint}{path}?{urlencode(next_query, doseq=True)}>; rel="next"'
            )
        self._json(items[start : start + size], headers)

    def _model_api(
        self, segments: list[str], query: dict[str, list[str]], user: str | None
    ) -> None:
        repo, rest = self._find_repo(segments)
        if not self._visible(repo, user):
            self._not_found(user)
            return
        assert repo is not None
        if not rest or rest[0] == "revision":
            if rest and not self._check_revision(repo, rest[1]):
                return
            self._model_info(repo, blobs=query.get("blobs", [""])[0].lower() == "true")
        elif rest[0] == "tree" and len(rest) >= 2:
            if self._check_revision(repo, rest[1]):
                recursive = query.get("recursive", [""])[0].lower() in ("true", "1")
                self._paged(
                    self._tree(repo, "/".join(rest[2:]), recursive), query, self.hub.tree_page_size
                )
        else:
            self._error(404, None, "Not found")

    def _check_revision(self, repo: HubRepo, revision: str) -> bool:
        if revision in ("main", repo.commit):
            return True
        self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return False

    def _claimed_sha256(self, repo: HubRepo, f: HubFile) -> str:
        fault = self.hub.fault_for(repo.repo_id, f.path)
        if fault is not None and fault.wrong_sha256:
            return hashlib.sha256(b"not these bytes" + f.sha256.encode()).hexdigest()
        return f.sha256

    def _lfs(self, repo: HubRepo, f: HubFile, sha_key: str) -> dict[str, Any]:
        return {
            sha_key: self._claimed_sha256(repo, f),
            "size": f.size,
            "pointerSize": len(f.pointer()),
        }

    def _model_info(self, repo: HubRepo, *, blobs: bool) -> None:
        siblings: list[dict[str, Any]] = []
        for f in repo.files.values():
            sibling: dict[str, Any] = {"rfilename": f.path}
            if blobs:
                sibling.update(size=f.size, blobId=f.blob_id)
                if f.lfs:
                    sibling["lfs"] = self._lfs(repo, f, "sha256")
            siblings.append(sibling)
        info = repo.entry() | {
            "siblings": siblings,
            "usedStorage": sum(f.size for f in repo.files.values()),
        }
        self._json(info)

    def _tree(self, repo: HubRepo, folder: str, recursive: bool) -> list[dict[str, Any]]:
        prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
        entries: dict[str, dict[str, Any]] = {}
        for f in sorted(repo.files.values(), key=lambda f: f.path):
            if not f.path.startswith(prefix):
                continue
            parts = f.path[len(prefix) :].split("/")
            for depth in range(1, len(parts)):
                directory = prefix + "/".join(parts[:depth])
                if recursive or depth == 1:
                    oid = hashlib.sha1(directory.encode()).hexdigest()
                    entries.setdefault(
                        directory, {"type": "directory", "oid": oid, "size": 0, "path": directory}
                    )
            if recursive or len(parts) == 1:
                entry: dict[str, Any] = {
                    "type": "file",
                    "oid": f.blob_id,
                    "size": f.size,
                    "path": f.path,
                }
                if f.lfs:
                    entry["lfs"] = self._lfs(repo, f, "oid")
                entries[f.path] = entry
        return list(entries.values())

    def _resolve(self, segments: list[str], user: str | None) -> None:
        at = segments.index("resolve")
        repo = self.hub.repos.get("/".join(segments[:at]))
        if not self._visible(repo, user):
            self._not_found(user)
            return
        assert repo is not None
        if len(segments) < at + 3 or not self._check_revision(repo, segments[at + 1]):
            if len(segments) < at + 3:
                self._error(404, "EntryNotFound", "Entry not found")
            return
        if repo.gated and user not in repo.granted | {repo.author}:
            if user is None:
                message = (
                    f"Access to model {repo.repo_id} is restricted. You must have access to "
                    "it and be authenticated to access it. Please log in."
                )
            else:
                message = (
                    f"Access to model {repo.repo_id} is restricted and you are not in the "
                    f"authorized list. Visit https://huggingface.co/{repo.repo_id} to ask "
                    "for access."
                )
            self._error(401 if user is None else 403, "GatedRepo", message)
            return
        commit = {"X-Repo-Commit": repo.commit}
        f = repo.files.get("/".join(segments[at + 2 :]))
        if f is None:
            self._error(404, "EntryNotFound", "Entry not found", commit)
            return
        fault = self.hub.fault_for(repo.repo_id, f.path)
        if fault is not None and fault.error_500 > 0:
            with self.hub._lock:
                fault.error_500 -= 1
            self._error(
                500, None, "Internal Error - We're working hard to fix this as soon as possible!"
            )
            return
        self._send_file(repo, f, fault, commit)

    def _send_file(
        self, repo: HubRepo, f: HubFile, fault: Fault | None, headers: dict[str, str]
    ) -> None:
        etag = f'"{self._claimed_sha256(repo, f) if f.lfs else f.blob_id}"'
        size = f.size
        start, end = 0, size - 1
        range_header = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if range_header and if_range and if_range.strip('W/"') != etag.strip('"'):
            range_header = None  # the client's copy is of another version: send it all
        status = 200
        if range_header:
            parsed = _parse_range(range_header, size)
            if parsed is None:
                self._error(
                    416,
                    None,
                    "Requested Range Not Satisfiable",
                    headers | {"Content-Range": f"bytes */{size}"},
                )
                return
            start, end = parsed
            status = 206
        self._rec.status = status
        self.send_response(status)
        all_headers = headers | {
            "ETag": etag,
            "Content-Length": str(end - start + 1),
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'inline; filename="{f.path.rsplit("/", 1)[-1]}"',
        }
        if status == 206:
            all_headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        for key, value in all_headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        self.wfile.flush()
        body_fault = None
        if fault is not None and (fault.times is None or fault.times > 0):
            body_fault = fault
            if fault.times is not None:
                with self.hub._lock:
                    fault.times -= 1
        _BodySender(self, (repo.repo_id, f.path), f, body_fault).send(start, end + 1 - start)


class _BodySender:
    """Sends a byte range of a file, with the fault's cut, stall and throttle."""

    def __init__(
        self, handler: _Handler, key: tuple[str, str], f: HubFile, fault: Fault | None
    ) -> None:
        self.handler, self.key, self.file, self.fault = handler, key, f, fault
        self.sock: socket.socket = handler.connection

    def send(self, offset: int, length: int) -> None:
        fault = self.fault
        try:
            if fault is None and isinstance(self.file.source, Path):
                self._sendfile(offset, length)
            else:
                self._send_chunks(offset, length)
        except (BrokenPipeError, ConnectionResetError):
            self.handler.close_connection = True

    def _sent(self, n: int) -> None:
        self.handler.hub._count(self.key, n)
        self.handler._rec.body_bytes += n

    def _sendfile(self, offset: int, length: int) -> None:
        assert isinstance(self.file.source, Path)
        with self.file.source.open("rb") as f:
            while length > 0:
                n = os.sendfile(self.sock.fileno(), f.fileno(), offset, min(length, 8 << 20))
                if n == 0:
                    return
                self._sent(n)
                offset += n
                length -= n

    def _send_chunks(self, offset: int, length: int) -> None:
        fault = self.fault or Fault()
        sent, stalled, began = 0, False, time.monotonic()
        step = (
            SEND_CHUNK
            if not fault.throttle_bps
            else max(1, min(SEND_CHUNK, fault.throttle_bps // 20))
        )
        while sent < length:
            if fault.stall_after is not None and not stalled and sent >= fault.stall_after:
                stalled = True
                self.handler.hub._stall(fault.stall_s)
                if self._peer_gone():
                    self.handler.close_connection = True
                    return
            if fault.cut_after is not None and sent >= fault.cut_after:
                self._cut()
                return
            n = min(step, length - sent)
            for limit in (fault.cut_after, None if stalled else fault.stall_after):
                if limit is not None and limit > sent:
                    n = min(n, limit - sent)
            self.sock.sendall(self.file.read(offset + sent, n))
            self._sent(n)
            sent += n
            if fault.throttle_bps:
                ahead = sent / fault.throttle_bps - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)

    def _peer_gone(self) -> bool:
        """True if the client hung up while we stalled (so bytes sent now would be lost)."""
        readable, _, _ = select.select([self.sock], [], [], 0)
        try:
            return bool(readable) and self.sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _cut(self) -> None:
        """Drop the connection mid-body, as a flaky network would."""
        self.handler.close_connection = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``bytes=a-b``, ``bytes=a-``, ``bytes=-n`` -> inclusive (start, end); None: unsatisfiable."""
    try:
        unit, spec = header.split("=", 1)
        first, last = spec.split(",")[0].strip().split("-", 1)
        if unit.strip() != "bytes":
            return None
        if first == "":
            start, end = max(size - int(last), 0), size - 1
        else:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
    except ValueError:
        return None
    return (start, end) if start <= end and start < size else None


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
