"""Where a download's bytes come from: Hugging Face (the default) or any plain HTTP(S) server.

A `Source` tells a `DownloadJob` how to look its file up (fill the `PartialState`'s url,
size and sha256), which HTTP client and headers to use, and how to word network errors,
so one transfer, retry and verification path serves every file lmdesk downloads.
A source other than Hugging Face gets a plain client: no hub token, no offline switch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import httpx2
from huggingface_hub.errors import HfHubHTTPError

from lmdesk.core.hub import HubError, HubServerError, HubUnreachable, hub_errors
from lmdesk.core.hub.session import get_session, hub_headers

from .resolve import resolve_into
from .sidecar import PartialState

Resolver = Callable[[PartialState], None]
"""Fill ``state.url`` and ``state.size`` (and ``sha256`` when known) before a transfer."""


@dataclass(frozen=True)
class Source:
    name: str  # who the messages name: "Hugging Face", "PyPI"
    resolve: Resolver
    headers: Callable[[], dict[str, str]]
    client: Callable[[], httpx2.Client]
    errors: Callable[[PartialState], AbstractContextManager[None]]

    def look_up(self, state: PartialState) -> bool:
        """Resolve ``state``; True if the file is now another version than the one it held."""
        known_sha = state.sha256
        self.resolve(state)
        return bool(known_sha and known_sha != state.sha256)


def hub_source(endpoint: str, token: str | None, resolve: Resolver | None = None) -> Source:
    """Hugging Face: its session and token; by default the file is looked up in its repo."""
    return Source(
        name="Hugging Face",
        resolve=resolve or (lambda state: resolve_into(state, endpoint=endpoint, token=token)),
        headers=lambda: hub_headers(token),
        client=get_session,
        errors=lambda state: hub_errors(repo_id=state.repo_id, filename=state.filename),
    )


def web_source(name: str, resolve: Resolver) -> Source:
    """Any other server, named ``name`` in messages, through a plain shared client."""
    return Source(
        name=name,
        resolve=resolve,
        headers=dict,
        client=plain_client,
        errors=lambda _state: web_errors(name),
    )


_client: httpx2.Client | None = None
_client_lock = threading.Lock()


def plain_client() -> httpx2.Client:
    """One shared client for servers that are not Hugging Face (proxies from the environment)."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx2.Client(follow_redirects=True, timeout=None)
        return _client


@contextmanager
def web_errors(site: str) -> Iterator[None]:
    """Like `hub_errors`, for another site: HTTP client errors leave as a `HubError`."""
    try:
        yield
    except HubError:
        raise
    except HfHubHTTPError as exc:  # hf_raise_for_status, used by the transfer for any server
        status = exc.response.status_code if exc.response is not None else 0
        raise status_error(site, status) from exc
    except httpx2.TimeoutException as exc:
        raise HubUnreachable(f"{site} did not answer in time. Check your connection.") from exc
    except httpx2.TransportError as exc:
        raise HubUnreachable(
            f"Could not reach {site} (the connection failed or was dropped). "
            "Check your network connection."
        ) from exc
    except httpx2.HTTPError as exc:
        raise HubError(f"Unexpected error talking to {site}: {exc}") from exc


def status_error(site: str, status: int) -> HubError:
    """The error for an HTTP error status: worth retrying (5xx, 429) or not."""
    if status >= 500 or status == 429:
        return HubServerError(f"{site} had a server error ({status}); try again in a moment.")
    return HubError(f"{site} answered with an error ({status}).")
