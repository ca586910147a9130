"""The test hub's HTTP handler: authentication, the JSON API and its pagination."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from hub_files import FileRoutes
from hub_model import DEFAULT_LIST_FIELDS, SORT_KEYS, HubFile, HubRepo, RequestRecord

if TYPE_CHECKING:
    from hub_server import HubServer


class HubHandler(FileRoutes, BaseHTTPRequestHandler):
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
        if getattr(self.server, "is_cdn", False):
            self._guarded(lambda: self._cdn(segments, query))
            return
        limit = self.hub.take_rate_limit(self.path)
        if limit is not None:
            self._error(429, None, "You have been rate-limited; retry later.", limit.headers())
            return
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
            elif segments[:3] == ["api", "resolve-cache", "models"]:
                self._resolve_cache(segments[3:])
            elif "resolve" in segments:
                self._resolve(segments, user)
            else:
                self._error(404, None, "Sorry, we can't find the page you are looking for.")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _guarded(self, route: Callable[[], None]) -> None:
        try:
            route()
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
        card = {} if repo.card_data is None else {"cardData": repo.card_data}
        info = (
            repo.entry()
            | card
            | {
                "siblings": siblings,
                "usedStorage": sum(f.size for f in repo.files.values()),
            }
        )
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
