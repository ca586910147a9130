"""A remote server as the person entered it (name, base URL, key), and one of its models."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

_DRIVE = re.compile(r"^[A-Za-z]:[\\\\/]")

MAX_NAME = 60


@dataclass(frozen=True)
class RemoteServer:
    """An OpenAI-compatible server. ``base_url`` is its address with or without ``/v1``."""

    name: str
    base_url: str
    api_key: str = ""

    @classmethod
    def checked(cls, name: str, base_url: str, api_key: str = "") -> RemoteServer:
        """A server from what a person typed; ValueError with one sentence if it is unusable."""
        name, base_url, api_key = name.strip(), base_url.strip().rstrip("/"), api_key.strip()
        if not name:
            raise ValueError("Give the server a name (it is shown in the model picker).")
        if len(name) > MAX_NAME or "/" in name:
            raise ValueError(f"A server's name is at most {MAX_NAME} characters, without '/'.")
        problem = url_problem(base_url)
        if problem:
            raise ValueError(problem)
        return cls(name, base_url, api_key)

    def url(self, path: str) -> str:
        """``path`` under the API: ``/models`` → ``http://host:port/v1/models``."""
        base = self.base_url.rstrip("/")
        return f"{base}{path}" if base.endswith("/v1") else f"{base}/v1{path}"

    def as_setting(self) -> dict[str, str]:
        return {"name": self.name, "base_url": self.base_url, "api_key": self.api_key}


def url_problem(base_url: str) -> str | None:
    """Why ``base_url`` is not a server's address (a sentence), or None."""
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError:
        return f"{base_url!r} is not a server address: the port must be a number up to 65535."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return (
            f"{base_url!r} is not a server address: write it like http://127.0.0.1:1234 "
            "(http:// or https://, a host, and the port if it is not the default)."
        )
    if port == 0 or parts.query or parts.fragment:
        return f"{base_url!r} is not a server address: no port 0, '?' or '#' in it."
    return None


def setting_problem(value: object) -> str | None:
    """Why the ``remote_servers`` setting is unusable (for `core.settings`), or None."""
    if not isinstance(value, tuple):
        return "remote_servers must be a list"
    names: set[str] = set()
    for entry in value:
        if not isinstance(entry, Mapping):
            return "each remote server must be a mapping with name, base_url and api_key"
        try:
            server = RemoteServer.checked(
                str(entry.get("name", "")),
                str(entry.get("base_url", "")),
                str(entry.get("api_key", "")),
            )
        except ValueError as exc:
            return f"remote server {entry.get('name', '')!r}: {exc}"
        if server.name in names:
            return f"two remote servers are named {server.name!r}"
        names.add(server.name)
    return None


def servers_from_setting(entries: Iterable[Mapping[str, str]]) -> list[RemoteServer]:
    """The ``remote_servers`` setting as servers (it was checked when the settings were built)."""
    return [
        RemoteServer.checked(e.get("name", ""), e.get("base_url", ""), e.get("api_key", ""))
        for e in entries
    ]


@dataclass(frozen=True)
class RemoteModel:
    """A model a remote server lists: what the chat loads instead of a file."""

    server: RemoteServer
    model_id: str

    @property
    def label(self) -> str:
        """How the chat and its store name it: ``"server name / model id"``."""
        return remote_label(self.server.name, self.model_id)


def remote_label(server_name: str, model_id: str) -> str:
    return f"{server_name} / {model_id}"


def remote_model_named(label: str, servers: Iterable[RemoteServer]) -> RemoteModel | None:
    """The remote model a chat recorded as ``"server name / model id"``, if a server of that
    name is still configured (None: not a remote label, or its server was removed)."""
    if not is_remote_label(label):
        return None
    name, _, model_id = label.partition(" / ")
    server = next((s for s in servers if s.name == name), None)
    return RemoteModel(server, model_id) if server is not None else None


def is_remote_label(text: str) -> bool:
    """Whether a conversation's recorded model is a remote one (``"name / id"``), not a file.

    A server's name has no '/', so a label's first '/' has a space on either side, and it
    never starts with one; a file's path is absolute (it starts with '/' or a drive)."""
    name, sep, model_id = text.partition(" / ")
    if _DRIVE.match(text):
        return False
    return bool(sep and name and model_id and "/" not in name and "\\" not in name)
