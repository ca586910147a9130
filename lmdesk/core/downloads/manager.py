"""The download queue: a few worker threads, resumable jobs, updates through a callback.

Qt-free: ``on_update(snapshot)`` is called from worker threads (and from a ticker thread
twice a second while something is active, so a stalled job's speed visibly falls to 0);
the UI layer bridges it to the GUI thread with a queued signal. A new manager over the
same ``models_dir`` finds the partial downloads left by the previous one and resumes them.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from lmdesk.core.units import MiB

from .errors import UnsafeName
from .job import DownloadJob
from .model import FINISHED, JobSettings, JobSnapshot, JobState, RetryPolicy
from .paths import Layout
from .sidecar import DamagedSidecar, PartialState

log = logging.getLogger(__name__)

UpdateCallback = Callable[[JobSnapshot], None]
PROGRESS_INTERVAL_S = 0.1  # at most this often per job for byte progress; state changes always


class DownloadManager:
    """Downloads GGUF files into ``models_dir/publisher/repo/file``, ``concurrency`` at a time."""

    def __init__(
        self,
        models_dir: str | os.PathLike[str],
        *,
        endpoint: str,
        token: str | None = None,
        concurrency: int = 2,
        stall_timeout_s: float = 30.0,
        on_update: UpdateCallback | None = None,
        retry: RetryPolicy | None = None,
        checkpoint_bytes: int = 32 * MiB,
        checkpoint_interval_s: float = 5.0,
        speed_window_s: float = 3.0,
        tick_s: float = 0.5,
        resume_partials: bool = True,
    ) -> None:
        self.layout = Layout(models_dir)
        """Start ``concurrency`` workers; resume the partials found (unless told not to).

        ``stall_timeout_s``: no byte for this long counts as a stall (reconnect and resume).
        ``checkpoint_bytes`` / ``checkpoint_interval_s``: how often the partial is fsynced
        and its sidecar updated (both must be exceeded); a crash re-fetches at most that much.
        ``speed_window_s``: the rolling window of the speed; ``tick_s``: how often active
        jobs are reported even when nothing arrives.
        """
        self.settings = JobSettings(
            endpoint=endpoint,
            token=token,
            stall_timeout_s=stall_timeout_s,
            checkpoint_bytes=checkpoint_bytes,
            checkpoint_interval_s=checkpoint_interval_s,
            speed_window_s=speed_window_s,
            retry=retry or RetryPolicy(),
        )
        self._on_update = on_update
        self._jobs: dict[str, DownloadJob] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._last_progress: dict[str, float] = {}
        self._queue: queue.Queue[DownloadJob | None] = queue.Queue()
        self._closing = threading.Event()
        self._tick_s = tick_s
        self.skipped: list[str] = []
        """Why each damaged resume file found at start was skipped (for a person)."""
        if resume_partials:
            self._rediscover()
        self._threads = [
            threading.Thread(target=self._work, name=f"download-{i}", daemon=True)
            for i in range(concurrency)
        ]
        self._threads.append(
            threading.Thread(target=self._tick, name="download-ticker", daemon=True)
        )
        for thread in self._threads:
            thread.start()

    # -- public API -----------------------------------------------------------------------
    def add(self, repo_id: str, filename: str, *, revision: str = "main") -> JobSnapshot:
        """Queue a file (or return its existing job). Raises UnsafeName for a bad name."""
        if self._closing.is_set():
            raise RuntimeError("the download manager is closed")
        job_id = f"{repo_id}/{filename}"
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None and job.state not in FINISHED:
            return job.snapshot()
        partial = PartialState(repo_id=repo_id, filename=filename, revision=revision)
        job = DownloadJob(self.layout, partial, self.settings, self._notify)
        if job.final_path.exists():
            job = DownloadJob(
                self.layout,
                partial,
                self.settings,
                self._notify,
                state=JobState.DONE,
                message="Already in the library",
            )
        with self._lock:
            self._jobs[job_id] = job
        if job.state is JobState.QUEUED:
            self._queue.put(job)
        self._notify(job, True)
        return job.snapshot()

    def jobs(self) -> list[JobSnapshot]:
        with self._lock:
            jobs = list(self._jobs.values())
        return [job.snapshot() for job in jobs]

    def snapshot(self, job_id: str) -> JobSnapshot:
        return self._job(job_id).snapshot()

    def pause(self, job_id: str) -> None:
        self._job(job_id).pause()

    def resume(self, job_id: str) -> None:
        job = self._job(job_id)
        if job.resume():
            self._queue.put(job)

    def retry(self, job_id: str) -> None:
        job = self._job(job_id)
        if job.retry():
            self._queue.put(job)

    def cancel(self, job_id: str) -> None:
        """Stop the job and delete its partial file."""
        self._job(job_id).cancel()

    def wait(
        self,
        job_id: str,
        *,
        until: Callable[[JobSnapshot], bool] | None = None,
        timeout: float | None = None,
    ) -> JobSnapshot:
        """Block until ``until(snapshot)`` (default: finished or paused); return the snapshot."""
        done = until or (lambda s: s.state in FINISHED or s.state is JobState.PAUSED)
        job = self._job(job_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not done(job.snapshot()):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"{job_id} is still {job.state.value}")
                self._changed.wait(0.5 if left is None else min(left, 0.5))
        return job.snapshot()

    def close(self, *, timeout: float = 30.0) -> None:
        """Stop every download, keeping partial files for next time, and join the threads."""
        self._closing.set()
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.stop_for_shutdown()
        for _ in range(len(self._threads) - 1):
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)

    def __enter__(self) -> DownloadManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------
    def _job(self, job_id: str) -> DownloadJob:
        with self._lock:
            try:
                return self._jobs[job_id]
            except KeyError:
                raise KeyError(f"no download {job_id!r}") from None

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None or self._closing.is_set():
                return
            job.run()
            if job.wants_requeue() and not self._closing.is_set():
                self._queue.put(job)

    def _tick(self) -> None:
        """Refresh active jobs regularly, so speeds and ETAs move even when no byte arrives."""
        while not self._closing.wait(self._tick_s):
            with self._lock:
                active = [
                    j
                    for j in self._jobs.values()
                    if j.state in (JobState.RUNNING, JobState.RETRYING)
                ]
            for job in active:
                self._notify(job, True)

    def _notify(self, job: DownloadJob, force: bool) -> None:
        now = time.monotonic()
        with self._changed:
            if not force and now - self._last_progress.get(job.job_id, 0.0) < PROGRESS_INTERVAL_S:
                return
            self._last_progress[job.job_id] = now
            self._changed.notify_all()
        if self._on_update is not None:
            try:
                self._on_update(job.snapshot())
            except Exception:
                log.exception("download update callback failed")

    def _skip(self, message: str) -> None:
        log.warning("%s", message)
        self.skipped.append(message)

    def _rediscover(self) -> None:
        """Jobs for the partial downloads a previous run left behind."""
        for sidecar in self.layout.sidecars():
            try:
                partial = PartialState.read(sidecar)
            except DamagedSidecar as exc:  # skipped and reported; the others still resume
                self._skip(str(exc))
                continue
            if partial is None:
                continue
            state, message = _restored_state(partial)
            try:
                job = DownloadJob(
                    self.layout, partial, self.settings, self._notify, state=state, message=message
                )
            except UnsafeName as exc:  # a sidecar that names a path outside: leave it alone
                self._skip(f"ignoring the resume file {sidecar}: {exc}")
                continue
            except (OSError, ValueError) as exc:
                self._skip(f"cannot resume from {sidecar}: {exc}")
                continue
            if job.sidecar_path != Path(sidecar):
                continue
            self._jobs[job.job_id] = job
            if job.state is JobState.QUEUED:
                self._queue.put(job)


def _restored_state(partial: PartialState) -> tuple[JobState, str]:
    if partial.error:
        return JobState.FAILED, partial.error
    if partial.user_paused:
        return JobState.PAUSED, "Paused"
    return JobState.QUEUED, "Resuming"
