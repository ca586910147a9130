"""HTTP to a remote server: timeouts, the key, and each failure as one typed sentence."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx2

from ..engine.errors import EngineError
from .errors import BadServerReply, RemoteModelGone, ServerUnreachable, WrongKey
from .server import RemoteServer

MAX_ERROR_BODY = 2000
"""Characters of an error answer read for its message."""


@dataclass(frozen=True)
class Timeouts:
    connect_s: float = 5.0
    """Seconds to reach the server."""
    read_s: float = 120.0
    """Seconds to wait for the next bytes: the first token (prompt evaluation) or the next."""

    def for_httpx(self) -> httpx2.Timeout:
        return httpx2.Timeout(self.read_s, connect=self.connect_s, pool=self.connect_s)


def make_client(server: RemoteServer, timeouts: Timeouts) -> httpx2.Client:
    headers = {"Accept": "application/json"}
    if server.api_key:
        headers["Authorization"] = f"Bearer {server.api_key}"
    # trust_env=False: a proxy set for the internet must not swallow a server on the LAN.
    return httpx2.Client(headers=headers, timeout=timeouts.for_httpx(), trust_env=False)


@contextmanager
def opened(
    client: httpx2.Client,
    server: RemoteServer,
    method: str,
    path: str,
    *,
    body: dict[str, Any] | None = None,
    model_id: str = "",
) -> Iterator[httpx2.Response]:
    """A streamed response with a 2xx status; every failure to get one as an `EngineError`."""
    url = server.url(path)
    try:
        with client.stream(method, url, json=body) as response:
            if response.status_code >= 300:
                raise _status_error(server, response, model_id)
            yield response
    except EngineError:
        raise
    except httpx2.ConnectTimeout as exc:
        raise ServerUnreachable(
            f"{server.name} did not answer at {server.base_url} within "
            f"{_seconds(client.timeout.connect)}: is it running, and is the address right?"
        ) from exc
    except httpx2.ConnectError as exc:
        raise ServerUnreachable(
            f"{server.name} cannot be reached at {server.base_url} ({_reason(exc)}): "
            "is it running, and is the address right?"
        ) from exc
    except httpx2.TimeoutException as exc:
        raise BadServerReply(
            f"{server.name} stopped answering for {_seconds(client.timeout.read)}."
        ) from exc
    except (httpx2.RemoteProtocolError, httpx2.DecodingError) as exc:
        raise BadServerReply(
            f"{server.name} at {server.base_url} did not answer like an OpenAI-compatible "
            "server (its answer was not valid HTTP)."
        ) from exc
    except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
        raise ServerUnreachable(f"{server.name} cannot be reached: {_reason(exc)}.") from exc


def _status_error(server: RemoteServer, response: httpx2.Response, model_id: str) -> EngineError:
    detail = _error_text(response)
    status = response.status_code
    if status in (401, 403):
        return WrongKey(
            f"{server.name} refused the API key ({status}): check the key in Settings → "
            "Remote servers."
        )
    if status == 404 and model_id:
        return RemoteModelGone(
            f"{server.name} no longer has the model {model_id!r} (404). Pick another model."
        )
    if status == 404:
        return BadServerReply(
            f"{server.name} has no OpenAI API at {response.request.url} (404): check the base URL."
        )
    tail = f": {detail}" if detail else ""
    return BadServerReply(f"{server.name} answered {status}{tail}")


def _error_text(response: httpx2.Response) -> str:
    """The message in an error answer (OpenAI's ``{"error": {"message"}}``, FastAPI's
    ``{"detail"}``), else the start of its text."""
    try:
        raw = response.read()[:MAX_ERROR_BODY].decode("utf-8", "replace")
    except httpx2.HTTPError:
        return ""
    try:
        data = json.loads(raw)
    except ValueError:
        return " ".join(raw.split())[:200]
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])[:300]
        if isinstance(error, str):
            return error[:300]
        if isinstance(data.get("detail"), str):
            return str(data["detail"])[:300]
    return " ".join(raw.split())[:200]


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    if "refused" in text.lower():
        return "connection refused"
    return text[:120] or type(exc).__name__


def _seconds(value: float | None) -> str:
    return "ever" if value is None else f"{value:g} s"
