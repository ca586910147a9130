"""A small PyPI on 127.0.0.1 for tests: the JSON API of one release and its files, with ranges.

``GET /pypi/{project}/{version}/json`` answers as pypi.org does (``urls`` with
``packagetype``, ``url``, ``size`` and ``digests.sha256``), and so does
``GET /pypi/{project}/json`` (``releases``; ``release_json=False`` serves only this one,
as some mirrors do); ``GET /files/{name}`` serves
the bytes with ``Range`` support. Faults on demand: cut the connection after N body
bytes, claim a wrong sha256. Body bytes served are counted per file and every request is
logged, so tests assert what went over the wire.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from hub_files import _parse_range as parse_range

SEND_CHUNK = 256 * 1024


@dataclass
class Release:
    project: str
    version: str
    files: dict[str, Path]  # file name -> bytes on disk
    wrong_sha256: bool = False  # claim a sha256 the bytes do not have
    cut_after: int | None = None  # close the connection after this many body bytes ...
    cut_times: int | None = None  # ... on this many GETs (None: every GET)


@dataclass
class PypiServer:
    """Serves registered releases; a context manager."""

    releases: dict[tuple[str, str], Release] = field(default_factory=dict)
    log: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range
    _served: dict[str, int] = field(default_factory=dict)
    release_json: bool = True  # False: /pypi/P/V/json answers 404
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None

    def add_release(self, project: str, version: str, files: dict[str, Path]) -> Release:
        release = Release(project, version, files)
        self.releases[(project, version)] = release
        return release

    def bytes_served(self, name: str) -> int:
        with self._lock:
            return self._served.get(name, 0)

    def ranges_asked(self, name: str) -> list[str | None]:
        with self._lock:
            return [r for method, path, r in self.log if method == "GET" and path.endswith(name)]

    @property
    def url(self) -> str:
        assert self._httpd is not None, "the server is not running"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> PypiServer:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        httpd.pypi = self  # type: ignore[attr-defined]
        self._httpd = httpd
        threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def _count(self, name: str, n: int) -> None:
        with self._lock:
            self._served[name] = self._served.get(name, 0) + n


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def pypi(self) -> PypiServer:
        return self.server.pypi  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        with self.pypi._lock:
            self.pypi.log.append((self.command, self.path, self.headers.get("Range")))
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        try:
            if len(parts) == 4 and parts[:1] == ["pypi"] and parts[3] == "json":
                self._release_json(parts[1], parts[2])
            elif len(parts) == 3 and parts[:1] == ["pypi"] and parts[2] == "json":
                self._project_json(parts[1])
            elif len(parts) == 2 and parts[0] == "files":
                self._file(parts[1])
            else:
                self._send(404, b'{"message": "Not Found"}')
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in ({"Content-Length": str(len(body))} | (headers or {})).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _release_json(self, project: str, version: str) -> None:
        release = self.pypi.releases.get((project, version))
        if release is None or not self.pypi.release_json:
            self._send(404, b'{"message": "Not Found"}')
            return
        payload = {"info": {"name": project, "version": version}, "urls": self._urls(release)}
        self._send(200, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    def _project_json(self, project: str) -> None:
        releases = {v: self._urls(r) for (p, v), r in self.pypi.releases.items() if p == project}
        if not releases:
            self._send(404, b'{"message": "Not Found"}')
            return
        payload = {"info": {"name": project}, "releases": releases, "urls": []}
        self._send(200, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    def _urls(self, release: Release) -> list[dict[str, Any]]:
        urls = []
        for name, path in release.files.items():
            sha = sha256_file(path)
            if release.wrong_sha256:
                sha = hashlib.sha256(b"not these bytes" + sha.encode()).hexdigest()
            urls.append(
                {
                    "filename": name,
                    "packagetype": "bdist_wheel" if name.endswith(".whl") else "sdist",
                    "size": path.stat().st_size,
                    "url": f"{self.pypi.url}/files/{name}",
                    "digests": {"sha256": sha, "md5": "0" * 32},
                }
            )
        return urls

    def _file(self, name: str) -> None:
        release = next((r for r in self.pypi.releases.values() if name in r.files), None)
        if release is None:
            self._send(404, b"Not Found")
            return
        path = release.files[name]
        size = path.stat().st_size
        start, end, status = 0, size - 1, 200
        if range_header := self.headers.get("Range"):
            parsed = parse_range(range_header, size)
            if parsed is None:
                self._send(416, b"", {"Content-Range": f"bytes */{size}"})
                return
            (start, end), status = parsed, 206
        self.send_response(status)
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{sha256_file(path)[:32]}"')
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        self.wfile.flush()
        cut = None
        with self.pypi._lock:
            if release.cut_after is not None and release.cut_times != 0:
                cut = release.cut_after
                if release.cut_times is not None:
                    release.cut_times -= 1
        self._send_body(name, path, start, end + 1 - start, cut)

    def _send_body(self, name: str, path: Path, offset: int, length: int, cut: int | None) -> None:
        sent = 0
        with path.open("rb") as f:
            f.seek(offset)
            while sent < length:
                if cut is not None and sent >= cut:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                n = min(SEND_CHUNK, length - sent, (cut - sent) if cut is not None else SEND_CHUNK)
                self.connection.sendall(f.read(n))
                self.pypi._count(name, n)
                sent += n


_sha_cache: dict[tuple[Path, float], str] = {}


def sha256_file(path: Path) -> str:
    key = (path, path.stat().st_mtime)
    if key not in _sha_cache:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(8 << 20):
                digest.update(block)
        _sha_cache[key] = digest.hexdigest()
    return _sha_cache[key]


def build_wheel(out: Path, members: dict[str, Path | bytes], name: str, version: str) -> Path:
    """A real (minimal) wheel: ``members`` plus the .dist-info files, stored uncompressed."""
    dist_info = f"{name.replace('-', '_')}-{version}.dist-info"
    meta = {
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist_info}/RECORD": "",
    }
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as wheel:
        for member, source in members.items():
            if isinstance(source, Path):
                wheel.write(source, member)
            else:
                wheel.writestr(member, source)
        for member, text in meta.items():
            wheel.writestr(member, text)
    return out
