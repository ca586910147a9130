"""Sanity checks of the local test hub itself, with a plain HTTP client and huggingface_hub."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx2
import pytest
from hub_server import Fault, HubServer, isolate_hf_home, random_bytes
from huggingface_hub import HfApi, hf_hub_download

REPO = "tester/tiny-GGUF"
DATA = random_bytes(300_000, seed=1)


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    isolate_hf_home(tmp_path, monkeypatch)
    with HubServer(page_size=2) as server:
        server.add_repo(REPO, {"tiny-Q8_0.gguf": DATA}, card="# Tiny", tags=["gguf"])
        server.add_repo(
            "tester/gated-GGUF", {"g-Q4_0.gguf": b"GGUF" * 10}, gated="manual", tags=["gguf"]
        )
        server.add_token("hf_good", "alice")
        yield server


def resolve_url(hub: HubServer, filename: str = "tiny-Q8_0.gguf", repo: str = REPO) -> str:
    return f"{hub.endpoint}/{repo}/resolve/main/{filename}"


def test_head_answers_what_huggingface_hub_needs(hub: HubServer) -> None:
    """An LFS file's HEAD is a 302 to the CDN carrying the metadata, as on huggingface.co."""
    r = httpx2.head(resolve_url(hub))
    assert r.status_code == 302
    assert re.fullmatch(r"[0-9a-f]{40}", r.headers["X-Repo-Commit"])
    sha256 = hub.repos[REPO].files["tiny-Q8_0.gguf"].sha256
    assert r.headers["X-Linked-Size"] == str(len(DATA))
    assert r.headers["X-Linked-Etag"] == f'"{sha256}"'
    assert r.headers["Location"].startswith(f"{hub.cdn_endpoint}/repos/{REPO}/{sha256}?")
    assert hub.cdn_endpoint != hub.endpoint
    assert "X-Xet-Hash" not in r.headers
    cdn = httpx2.head(r.headers["Location"])
    assert (cdn.status_code, cdn.headers["Content-Length"]) == (200, str(len(DATA)))
    assert cdn.headers["Accept-Ranges"] == "bytes"
    assert cdn.headers["ETag"].strip('"') != sha256  # the CDN's own tag
    assert hub.bytes_served(REPO, "tiny-Q8_0.gguf") == 0


def test_without_redirects_the_api_host_serves_lfs_files(hub: HubServer) -> None:
    hub.redirect_lfs = False
    r = httpx2.head(resolve_url(hub))
    assert r.status_code == 200
    assert r.headers["ETag"].strip('"') == hub.repos[REPO].files["tiny-Q8_0.gguf"].sha256


def cdn_url(hub: HubServer) -> str:
    return httpx2.head(resolve_url(hub)).headers["Location"]


def test_cdn_refuses_authorization_and_expired_or_forged_urls(hub: HubServer) -> None:
    url = cdn_url(hub)
    refused = httpx2.get(url, headers={"Authorization": "Bearer hf_good"})
    assert refused.status_code == 400
    assert "Only one auth mechanism allowed" in refused.headers["X-Error-Message"]
    assert httpx2.get(url).content == DATA
    forged = url.replace("Signature=", "Signature=0")
    assert httpx2.get(forged).status_code == 403
    hub.url_ttl_s = -1
    expired = httpx2.get(cdn_url(hub))
    assert expired.status_code == 403
    assert "expired" in expired.headers["X-Error-Message"]


def test_following_the_redirect_drops_the_token(hub: HubServer) -> None:
    """httpx (and so huggingface_hub's session) strips Authorization on a cross-origin hop."""
    r = httpx2.get(
        resolve_url(hub), headers={"Authorization": "Bearer hf_good"}, follow_redirects=True
    )
    assert (r.status_code, r.content) == (200, DATA)
    cdn_request = hub.requests_for(f"/repos/{REPO}/")[-1]
    assert "authorization" not in cdn_request.headers


def test_cdn_etag_changes_for_the_same_bytes_and_if_range_is_strict(hub: HubServer) -> None:
    url = cdn_url(hub)
    etag = httpx2.head(url).headers["ETag"]
    ranged = httpx2.get(url, headers={"Range": "bytes=100-", "If-Range": etag})
    assert (ranged.status_code, ranged.content) == (206, DATA[100:])
    weak = httpx2.get(url, headers={"Range": "bytes=100-", "If-Range": f"W/{etag}"})
    assert (weak.status_code, weak.content) == (200, DATA)
    sha256 = f'"{hub.repos[REPO].files["tiny-Q8_0.gguf"].sha256}"'
    assert httpx2.get(url, headers={"Range": "bytes=100-", "If-Range": sha256}).status_code == 200
    hub.cdn_etag_salt = "moved to another CDN"
    moved = httpx2.get(url, headers={"Range": "bytes=100-", "If-Range": etag})
    assert (moved.status_code, moved.content) == (200, DATA)
    assert moved.headers["ETag"] != etag


def test_small_files_answer_307_to_the_resolve_cache(hub: HubServer, tmp_path: Path) -> None:
    r = httpx2.head(resolve_url(hub, "README.md"))
    assert r.status_code == 307
    assert r.headers["Location"].startswith(f"/api/resolve-cache/models/{REPO}/")
    path = hf_hub_download(REPO, "README.md", endpoint=hub.endpoint, cache_dir=tmp_path / "c")
    assert Path(path).read_text() == "# Tiny"


@pytest.mark.parametrize(
    ("style", "header", "expected"),
    [
        ("ratelimit", "RateLimit", '"api";r=0;t=7'),
        ("retry-after", "Retry-After", "7"),
        ("reset", "RateLimit-Reset", "7"),
    ],
)
def test_rate_limit_answers_429_with_its_headers(
    hub: HubServer, style: str, header: str, expected: str
) -> None:
    hub.rate_limit(1, reset_s=7, path_part="/api/models", style=style)
    assert httpx2.get(resolve_url(hub)).status_code == 302  # another path: not limited
    limited = httpx2.get(f"{hub.endpoint}/api/models?search=tiny")
    assert (limited.status_code, limited.headers[header]) == (429, expected)
    assert httpx2.get(f"{hub.endpoint}/api/models?search=tiny").status_code == 200


def test_rate_limit_can_name_an_http_date(hub: HubServer) -> None:
    hub.rate_limit(1, reset_s=30, style="http-date")
    when = parsedate_to_datetime(httpx2.get(resolve_url(hub)).headers["Retry-After"])
    assert 25 <= when.timestamp() - time.time() <= 31


def test_model_info_carries_gguf_card_data_and_gated(hub: HubServer) -> None:
    hub.add_repo(
        "tester/carded-GGUF",
        {"c-Q4_0.gguf": b"GGUF" * 10},
        gguf={"total": 134515008, "architecture": "llama", "context_length": 8192},
        card_data={"license": "apache-2.0", "base_model": "HuggingFaceTB/SmolLM2-135M"},
        gated="auto",
        tags=["gguf"],
    )
    info = HfApi(endpoint=hub.endpoint).model_info("tester/carded-GGUF")
    assert info.gguf == {"total": 134515008, "architecture": "llama", "context_length": 8192}
    assert info.card_data is not None and info.card_data["license"] == "apache-2.0"
    assert info.gated == "auto"
    assert HfApi(endpoint=hub.endpoint).model_info("tester/gated-GGUF").gated == "manual"


def test_split_parts_carry_gguf_split_headers(hub: HubServer, tmp_path: Path) -> None:
    from gguf_factory import write_model

    from lmdesk.core.hub import read_remote_header

    first = write_model(tmp_path / "split" / "s-F32.gguf", n_layer=2, split_max_tensors=8)
    parts = sorted(first.parent.glob("s-F32-*.gguf"))
    assert len(parts) > 1
    hub.add_repo("tester/split-GGUF", {p.name: p for p in parts}, tags=["gguf"])
    second = read_remote_header(
        "tester/split-GGUF", parts[1].name, endpoint=hub.endpoint, cache_dir=tmp_path / "h"
    )
    assert second.metadata["split.no"] == 1
    assert second.metadata["split.count"] == len(parts)
    assert second.metadata["split.tensors.count"] == 2 * 9 + 2


def test_concurrent_range_requests_get_their_own_bytes(hub: HubServer) -> None:
    ranges = [(i * 10_000, i * 10_000 + 4_999) for i in range(12)]

    def fetch(span: tuple[int, int]) -> httpx2.Response:
        return httpx2.get(
            resolve_url(hub), headers={"Range": f"bytes={span[0]}-{span[1]}"}, follow_redirects=True
        )

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(fetch, ranges))
    for (start, end), r in zip(ranges, answers, strict=True):
        assert r.status_code == 206
        assert r.headers["Content-Range"] == f"bytes {start}-{end}/{len(DATA)}"
        assert r.content == DATA[start : end + 1]
    assert hub.bytes_served(REPO, "tiny-Q8_0.gguf") == 12 * 5_000


def test_errors_carry_the_hub_error_codes(hub: HubServer) -> None:
    assert (
        httpx2.get(f"{hub.endpoint}/nobody/nothing/resolve/main/x.gguf").headers["X-Error-Code"]
        == "RepoNotFound"
    )
    missing = httpx2.head(resolve_url(hub, "absent.gguf"))
    assert (missing.status_code, missing.headers["X-Error-Code"]) == (404, "EntryNotFound")
    gated = httpx2.head(resolve_url(hub, "g-Q4_0.gguf", "tester/gated-GGUF"))
    assert (gated.status_code, gated.headers["X-Error-Code"]) == (401, "GatedRepo")
    assert httpx2.get(f"{hub.endpoint}/api/agent-harnesses").status_code == 404
    unsatisfiable = httpx2.get(
        resolve_url(hub), headers={"Range": f"bytes={len(DATA)}-"}, follow_redirects=True
    )
    assert unsatisfiable.status_code == 416


def test_faults_cut_and_fail_then_heal(hub: HubServer) -> None:
    hub.set_fault(
        Fault(cut_after=1000, error_500=1, times=1), repo_id=REPO, filename="tiny-Q8_0.gguf"
    )
    assert httpx2.get(resolve_url(hub)).status_code == 500
    with pytest.raises(httpx2.RemoteProtocolError):
        httpx2.get(resolve_url(hub), follow_redirects=True)
    assert hub.bytes_served(REPO, "tiny-Q8_0.gguf") == 1000
    assert httpx2.get(resolve_url(hub), follow_redirects=True).content == DATA


def test_real_client_pages_through_link_headers(hub: HubServer) -> None:
    for i in range(5):
        hub.add_repo(f"org{i}/m{i}", {"m.gguf": b"x"}, downloads=i + 1, tags=["gguf"])
    api = HfApi(endpoint=hub.endpoint)
    ids = [m.id for m in api.list_models(filter="gguf", sort="downloads")]
    assert ids[:5] == [f"org{i}/m{i}" for i in (4, 3, 2, 1, 0)]
    assert len(ids) == 7
    assert len(hub.requests_for("/api/models?")) == 4  # 2 + 2 + 2 + 1


def test_whoami_knows_tokens(hub: HubServer) -> None:
    api = HfApi(endpoint=hub.endpoint)
    assert api.whoami(token="hf_good")["name"] == "alice"
    assert httpx2.get(f"{hub.endpoint}/api/whoami-v2").status_code == 401


def test_throttle_bounds_the_rate(hub: HubServer) -> None:
    hub.set_fault(Fault(throttle_bps=1_000_000), repo_id=REPO, filename="tiny-Q8_0.gguf")
    start = time.monotonic()
    assert httpx2.get(resolve_url(hub), follow_redirects=True).content == DATA
    assert time.monotonic() - start >= 0.9 * len(DATA) / 1_000_000


def test_real_client_downloads_through_the_cdn(hub: HubServer, tmp_path: Path) -> None:
    """huggingface_hub drops the token for the CDN itself: a gated download works."""
    hub.grant("tester/gated-GGUF", "alice")
    path = hf_hub_download(
        "tester/gated-GGUF",
        "g-Q4_0.gguf",
        endpoint=hub.endpoint,
        cache_dir=tmp_path / "c",
        token="hf_good",
    )
    assert Path(path).read_bytes() == b"GGUF" * 10
    assert hub.requests_for("/repos/tester/gated-GGUF/", "GET")[-1].status == 200
