"""How the API server runs, and the rule that keeps it safe: only 127.0.0.1 without a key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..serving import DEFAULT_MAX_QUEUE
from ..settings import ServerSettings
from ..units import MiB

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
LAN_HOST = "0.0.0.0"
DEFAULT_MAX_BODY = 4 * MiB


class ServerConfigError(ValueError):
    """The server must not start this way; ``str()`` says why and what to do."""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 1234
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    jit_loading: bool = True
    ttl_s: float | None = 3600.0
    log_message_text: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY
    max_queue: int = DEFAULT_MAX_QUEUE

    def check(self) -> None:
        """Refuse another interface than loopback without an API key."""
        if self.host not in LOOPBACK_HOSTS and not self.api_key:
            raise ServerConfigError(
                f"serving on {self.host} makes the models reachable from other computers: "
                "it needs an API key (--api-key-file, or the key file in the Server settings)"
            )

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in (LAN_HOST, "::") else self.host
        return f"http://{host}:{self.port}/v1"


def read_key_file(path: str | Path) -> str:
    """The API key in ``path`` (its first line, stripped); refuses a missing or empty file."""
    try:
        key = Path(path).expanduser().read_text(encoding="utf-8").strip().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ServerConfigError(f"cannot read the API key file {path}: {exc}") from exc
    if not key or not key[0].strip():
        raise ServerConfigError(f"the API key file {path} is empty")
    return key[0].strip()


def config_from_settings(server: ServerSettings) -> ServerConfig:
    """The server as the settings describe it (the key read from its file)."""
    return ServerConfig(
        host=LAN_HOST if server.lan else server.host,
        port=server.port,
        api_key=read_key_file(server.api_key_file) if server.api_key_file else None,
        cors_origins=server.cors_origins,
        jit_loading=server.jit_loading,
        ttl_s=server.idle_ttl_minutes * 60.0 if server.idle_ttl_minutes else None,
        log_message_text=server.log_message_text,
    )


def create_key_file(path: Path) -> str:
    """A new random API key in ``path`` (readable by its owner only); returns the key."""
    import os
    import secrets

    key = "lmdesk-" + secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(key + "\n")
    os.chmod(path, 0o600)
    return key
