"""The test hub's file routes: ``/{repo}/resolve/{rev}/{file}`` with ranges and faults.

LFS files are redirected (302) to the CDN with a signed, expiring URL; small files (307)
to ``/api/resolve-cache/models/{repo}/{commit}/{file}``, as huggingface.co does.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import select
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from hub_model import Fault, HubFile, HubRepo

if TYPE_CHECKING:
    from hub_handler import HubHandler

SEND_CHUNK = 256 * 1024


class FileRoutes:
    """Mixed into the handler: serving files, as the hub's resolve endpoint does."""

    def _claimed_sha256(self, repo: HubRepo, f: HubFile) -> str:
        fault = self.hub.fault_for(repo.repo_id, f.path)
        if fault is not None and fault.wrong_sha256:
            return hashlib.sha256(b"not these bytes" + f.sha256.encode()).hexdigest()
        return f.sha256

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
        if not self.hub.redirect_lfs:
            etag = f'"{self._claimed_sha256(repo, f) if f.lfs else f.blob_id}"'
            self._send_file(repo, f, fault, commit, etag)
        elif f.lfs:
            self._redirect_to_cdn(repo, f, commit)
        else:
            cached = f"/api/resolve-cache/models/{repo.repo_id}/{repo.commit}/{quote(f.path)}"
            self._send(307, b"", commit | {"Location": cached, "ETag": f'"{f.blob_id}"'})

    def _resolve_cache(self, segments: list[str]) -> None:
        """Where a small file's 307 points: its bytes at a commit, from the API host."""
        repo = self.hub.repos.get("/".join(segments[:2]))
        f = repo.files.get("/".join(segments[3:])) if repo is not None else None
        if repo is None or f is None or segments[2] != repo.commit:
            self._error(404, "EntryNotFound", "Entry not found")
            return
        fault = self.hub.fault_for(repo.repo_id, f.path)
        self._send_file(repo, f, fault, {"X-Repo-Commit": repo.commit}, f'"{f.blob_id}"')

    def _redirect_to_cdn(self, repo: HubRepo, f: HubFile, headers: dict[str, str]) -> None:
        """As the real hub does for LFS files: 302 to a signed URL, metadata on the redirect."""
        sha = self._claimed_sha256(repo, f)
        location = self.hub.signed_url(f"/repos/{repo.repo_id}/{sha}")
        self._send(
            302,
            b"",
            headers
            | {
                "Location": location,
                "X-Linked-Size": str(f.size),
                "X-Linked-Etag": f'"{sha}"',
                "ETag": f'"{f.blob_id}"',
            },
        )

    def _cdn(self, segments: list[str], query: dict[str, list[str]]) -> None:
        """The storage side: signed URLs only, no Authorization header, its own ETag."""
        if self.headers.get("Authorization"):
            self._error(
                400,
                None,
                "InvalidArgument: Only one auth mechanism allowed; only the X-Amz-Algorithm "
                "query parameter, Signature query string parameter or the Authorization "
                "header should be specified",
            )
            return
        path = "/" + "/".join(segments)
        expires = query.get("Expires", ["0"])[0]
        signature = query.get("Signature", [""])[0]
        if not expires.isdigit() or not hmac.compare_digest(
            signature, self.hub.sign(path, int(expires))
        ):
            self._error(403, None, "AccessDenied: the signature does not match")
            return
        if int(expires) < time.time():
            self._error(403, None, "AccessDenied: Request has expired")
            return
        repo = self.hub.repos.get("/".join(segments[1:3])) if len(segments) == 4 else None
        f = self._file_by_sha256(repo, segments[3]) if repo is not None else None
        if repo is None or f is None:
            self._error(404, None, "NoSuchKey")
            return
        fault = self.hub.fault_for(repo.repo_id, f.path)
        self._send_file(repo, f, fault, {}, self.hub.cdn_etag(f))

    def _file_by_sha256(self, repo: HubRepo, sha: str) -> HubFile | None:
        return next((f for f in repo.files.values() if self._claimed_sha256(repo, f) == sha), None)

    def _send_file(
        self, repo: HubRepo, f: HubFile, fault: Fault | None, headers: dict[str, str], etag: str
    ) -> None:
        size = f.size
        start, end = 0, size - 1
        range_header = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if range_header and if_range and (if_range != etag or etag.startswith("W/")):
            range_header = None  # strict If-Range: another version (or a weak tag): send all
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
        self, handler: HubHandler, key: tuple[str, str], f: HubFile, fault: Fault | None
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
