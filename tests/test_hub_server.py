"""Sanity checks of the local test hub itself, with a plain HTTP client and huggingface_hub."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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
    r = httpx2.head(resolve_url(hub))
    assert r.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{40}", r.headers["X-Repo-Commit"])
    assert r.headers["Content-Length"] == str(len(DATA))
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["ETag"].strip('"') == hub.repos[REPO].files["tiny-Q8_0.gguf"].sha256
    assert "X-Xet-Hash" not in r.headers
    assert hub.bytes_served(REPO, "tiny-Q8_0.gguf") == 0


def test_concurrent_range_requests_get_their_own_bytes(hub: HubServer) -> None:
    ranges = [(i * 10_000, i * 10_000 + 4_999) for i in range(12)]

    def fetch(span: tuple[int, int]) -> httpx2.Response:
        return httpx2.get(resolve_url(hub), headers={"Range": f"bytes={span[0]}-{span[1]}"})

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
    unsatisfiable = httpx2.get(resolve_url(hub), headers={"Range": f"bytes={len(DATA)}-"})
    assert unsatisfiable.status_code == 416


def test_faults_cut_and_fail_then_heal(hub: HubServer) -> None:
    hub.set_fault(
        Fault(cut_after=1000, error_500=1, times=1), repo_id=REPO, filename="tiny-Q8_0.gguf"
    )
    assert httpx2.get(resolve_url(hub)).status_code == 500
    with pytest.raises(httpx2.RemoteProtocolError):
        httpx2.get(resolve_url(hub))
    assert hub.bytes_served(REPO, "tiny-Q8_0.gguf") == 1000
    assert httpx2.get(resolve_url(hub)).content == DATA


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
    assert httpx2.get(resolve_url(hub)).content == DATA
    assert time.monotonic() - start >= 0.9 * len(DATA) / 1_000_000


def test_lfs_redirects_like_the_hub(hub: HubServer, tmp_path: Path) -> None:
    hub.redirect_lfs = True
    head = httpx2.head(resolve_url(hub))
    assert head.status_code == 302
    assert head.headers["X-Linked-Size"] == str(len(DATA))
    assert head.headers["Location"].startswith(f"{hub.endpoint}/cdn-lfs/{REPO}/")
    path = hf_hub_download(REPO, "tiny-Q8_0.gguf", endpoint=hub.endpoint, cache_dir=tmp_path / "c")
    assert Path(path).read_bytes() == DATA
