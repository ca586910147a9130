"""Hub errors a person can read, and the one place that turns library errors into them.

huggingface_hub raises typed errors (``RepositoryNotFoundError``, ``GatedRepoError``, ...)
and httpx2 raises transport errors; their messages are written for developers. Every
network call in `lmdesk.core.hub` and `lmdesk.core.downloads` goes through `hub_errors()`,
so the UI only ever shows ``str(error)`` of a `HubError`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx2
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .rate_limit import retry_after_s


class HubError(Exception):
    """Something went wrong talking to Hugging Face; ``str()`` is a sentence for a person."""

    retryable = False  # True when trying again later may work (network, server trouble)


class RepoNotFound(HubError):
    """The repository does not exist, or it is private and the token cannot see it."""


class FileNotOnHub(HubError):
    """The repository exists but not this file (or this revision)."""


class GatedRepoNoAccess(HubError):
    """The repository is gated and the token (if any) has not been granted access."""


class InvalidToken(HubError):
    """The hub rejected the access token itself."""


class HubUnreachable(HubError):
    """No answer: no network, a proxy or firewall, a timeout, or a dropped connection."""

    retryable = True


class HubServerError(HubError):
    """The hub answered with an error it may not give next time (5xx, rate limits)."""

    retryable = True


class RateLimited(HubServerError):
    """The hub answered 429; ``retry_after_s`` is how long it asked us to wait (if it said)."""

    def __init__(self, message: str, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def rate_limited(headers: Mapping[str, str]) -> RateLimited:
    """The error for a 429 answer, with the wait its headers name."""
    wait = retry_after_s(headers)
    when = f"in {math.ceil(wait)} s" if wait is not None else "in a moment"
    return RateLimited(f"Hugging Face is rate-limiting requests; try again {when}.", wait)


def translate_error(
    exc: BaseException, *, repo_id: str | None = None, filename: str | None = None
) -> HubError:
    """Map a huggingface_hub or httpx2 error to the `HubError` a person should see."""
    repo = f"'{repo_id}'" if repo_id else "this repository"
    what = f"'{filename}'" if filename else "the file"
    if isinstance(exc, HubError):
        return exc
    if isinstance(exc, GatedRepoError):
        status = exc.response.status_code if exc.response is not None else 401
        if status == 403:
            return GatedRepoNoAccess(
                f"The repository {repo} is gated and your token has no access yet: accept its "
                "license on huggingface.co with the same account, then try again."
            )
        return GatedRepoNoAccess(
            f"The repository {repo} is gated: accept its license on huggingface.co and log in "
            "with a token that has access."
        )
    if isinstance(exc, RepositoryNotFoundError):
        return RepoNotFound(
            f"The repository {repo} was not found on Hugging Face. Check its name; if it is "
            "private, log in with a token that can see it."
        )
    if isinstance(exc, RevisionNotFoundError):
        return FileNotOnHub(f"The requested revision of {repo} does not exist.")
    if isinstance(exc, RemoteEntryNotFoundError):
        return FileNotOnHub(f"The repository {repo} has no file {what}.")
    if isinstance(exc, OfflineModeIsEnabled):
        return HubUnreachable("Hugging Face is not contacted: offline mode is on (HF_HUB_OFFLINE).")
    if isinstance(exc, HfHubHTTPError):
        return _from_status(exc, repo)
    if isinstance(exc, httpx2.TimeoutException):
        return HubUnreachable("Hugging Face did not answer in time. Check your connection.")
    if isinstance(exc, httpx2.TransportError):
        return HubUnreachable(
            "Could not reach Hugging Face (the connection failed or was dropped). "
            "Check your network connection."
        )
    return HubError(f"Unexpected error talking to Hugging Face: {exc}")


def _from_status(exc: HfHubHTTPError, repo: str) -> HubError:
    status = exc.response.status_code if exc.response is not None else 0
    text = f"{exc.server_message or ''} {exc}"
    if status == 401 and ("Invalid credentials" in text or "Invalid user token" in text):
        return InvalidToken(
            "Hugging Face rejected your access token. Log in again with a valid token."
        )
    if status in (401, 403):
        return GatedRepoNoAccess(f"Hugging Face refused access to {repo} with this token.")
    if status == 429:
        return rate_limited(exc.response.headers if exc.response is not None else {})
    if status >= 500:
        return HubServerError(f"Hugging Face had a server error ({status}); try again in a moment.")
    return HubError(f"Hugging Face answered with an error ({status}) for {repo}.")


@contextmanager
def hub_errors(*, repo_id: str | None = None, filename: str | None = None) -> Iterator[None]:
    """Run a block of hub calls; any library error leaves it as a `HubError`."""
    try:
        yield
    except HubError:
        raise
    except (HfHubHTTPError, httpx2.HTTPError, OfflineModeIsEnabled) as exc:
        raise translate_error(exc, repo_id=repo_id, filename=filename) from exc
