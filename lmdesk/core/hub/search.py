"""Search Hugging Face for GGUF model repositories, one page at a time.

The hub pages a search with a cursor: each answer names the next page in a
``Link: <...>; rel="next"`` header. `search_page` returns that URL with the results, so
"load more" asks for exactly the next page instead of fetching from the first again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any, Literal

import httpx2
from huggingface_hub import ModelInfo
from huggingface_hub.hf_api import ExpandModelProperty_T

from .errors import hub_errors
from .rate_limit import OnWait, retrying
from .session import get_session, hf_raise_for_status, hub_headers

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


_SORT_PARAM = {"trending_score": "trendingScore", "last_modified": "lastModified"}


@dataclass(frozen=True)
class SearchPage:
    """One page of results and the hub's cursor to the next (None: this was the last)."""

    results: list[RepoSummary]
    next_url: str | None


def search_page(
    query: str,
    *,
    author: str | None = None,
    sort: SortKey = "downloads",
    limit: int = 30,
    endpoint: str,
    token: str | None = None,
    next_url: str | None = None,
    on_rate_limit: OnWait | None = None,
) -> SearchPage:
    """The first page of GGUF repositories matching ``query``, or the page ``next_url`` names.

    A 429 is waited out as the hub asks (``on_rate_limit`` hears the countdown).
    """
    params: dict[str, str | int | list[str]] | None = None  # a next page's URL has them
    if next_url is None:
        ensure_reachable(endpoint)
        params = {"filter": "gguf", "limit": limit}
        params |= {"sort": _SORT_PARAM.get(sort, sort), "expand": list(_EXPAND)}
        if query:
            params["search"] = query
        if author:
            params["author"] = author
        url = f"{endpoint.rstrip('/')}/api/models"
    else:
        url = next_url

    def fetch() -> httpx2.Response:
        with hub_errors():
            response = get_session().get(url, params=params, headers=hub_headers(token))
            hf_raise_for_status(response)
            return response

    response = retrying(fetch, on_wait=on_rate_limit)
    items = response.json()
    results = [_summary(_model_info(item)) for item in items if isinstance(item, dict)]
    following = response.links.get("next", {}).get("url")
    return SearchPage(results, following if following and results else None)


def iter_models(
    query: str,
    *,
    author: str | None = None,
    sort: SortKey = "downloads",
    endpoint: str,
    token: str | None = None,
    limit: int | None = None,
    page_size: int = 100,
) -> Iterator[RepoSummary]:
    """Every GGUF repository matching ``query``, best first, fetched page by page as consumed.

    ``limit`` bounds the results (None: follow every page).
    """
    size = min(page_size, limit) if limit else page_size
    page = search_page(query, author=author, sort=sort, limit=size, endpoint=endpoint, token=token)
    yielded = 0
    while True:
        for summary in page.results:
            if limit is not None and yielded >= limit:
                return
            yield summary
            yielded += 1
        if page.next_url is None:
            return
        page = search_page(query, endpoint=endpoint, token=token, next_url=page.next_url)


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
    """GGUF repositories matching ``query``: results ``offset .. offset+limit``.

    It pages from the first result; to go on from a page, use `search_page`'s cursor.
    """
    results = iter_models(
        query, author=author, sort=sort, endpoint=endpoint, token=token, limit=offset + limit
    )
    return list(islice(results, offset, offset + limit))


def _model_info(item: dict[str, Any]) -> ModelInfo:
    return ModelInfo(**item)  # type: ignore[no-untyped-call]


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
