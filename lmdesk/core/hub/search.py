"""Search Hugging Face for GGUF model repositories."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Literal

from huggingface_hub import HfApi, ModelInfo
from huggingface_hub.hf_api import ExpandModelProperty_T

from .errors import hub_errors
from .session import get_session

REACHABLE_FOR_S = 30.0
_last_reached: dict[str, float] = {}

SortKey = Literal["downloads", "likes", "trending_score", "last_modified"]

# The hub's search answer carries only a few fields unless asked for more.
_EXPAND: list[ExpandModelProperty_T] = [
    "author",
    "downloads",
    "likes",
    "lastModified",
    "tags",
    "gated",
]


@dataclass(frozen=True)
class RepoSummary:
    """One search result: enough to show a row and sort it."""

    repo_id: str
    author: str
    downloads: int
    likes: int
    last_modified: datetime | None
    tags: tuple[str, ...]
    gated: bool


def iter_models(
    query: str,
    *,
    author: str | None = None,
    sort: SortKey = "downloads",
    endpoint: str,
    token: str | None = None,
    limit: int | None = None,
) -> Iterator[RepoSummary]:
    """Every GGUF repository matching ``query``, best first, fetched page by page as consumed.

    ``limit`` bounds the results (and sets the hub's page size); None follows every page.
    """
    api = HfApi(endpoint=endpoint, token=token)
    ensure_reachable(endpoint)
    with hub_errors():
        models = api.list_models(
            search=query or None,
            author=author or None,
            filter="gguf",
            sort=sort,
            limit=limit,
            expand=_EXPAND,
        )
        for info in models:
            yield _summary(info)


def ensure_reachable(endpoint: str, *, timeout_s: float = 5.0) -> None:
    """Fail at once when the hub does not answer at all.

    huggingface_hub retries a search five times with backoff (about 20 s) before it
    gives up; a person typing in the search box should hear "unreachable" in seconds.
    Any HTTP answer counts as reachable; a success is remembered for 30 s.
    """
    now = time.monotonic()
    if now - _last_reached.get(endpoint, -REACHABLE_FOR_S) < REACHABLE_FOR_S:
        return
    with hub_errors():  # connection failures become HubUnreachable, in words
        get_session().head(f"{endpoint.rstrip('/')}/api/models", timeout=timeout_s)
    _last_reached[endpoint] = now


def search_models(
    query: str,
    *,
    author: str | None = None,
    sort: SortKey = "downloads",
    limit: int = 30,
    offset: int = 0,
    endpoint: str,
    token: str | None = None,
) -> list[RepoSummary]:
    """One page of GGUF repositories matching ``query``: results ``offset .. offset+limit``."""
    results = iter_models(
        query, author=author, sort=sort, endpoint=endpoint, token=token, limit=offset + limit
    )
    return list(islice(results, offset, offset + limit))


def _summary(info: ModelInfo) -> RepoSummary:
    return RepoSummary(
        repo_id=info.id,
        author=info.author or info.id.split("/")[0],
        downloads=info.downloads or 0,
        likes=info.likes or 0,
        last_modified=info.last_modified,
        tags=tuple(info.tags or ()),
        gated=bool(info.gated),
    )
