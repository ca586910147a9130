"""One download: its state machine, its retries with backoff, what it reports.

A job runs on a worker thread of the `DownloadManager`; `pause()`, `resume()`,
`cancel()` and `retry()` come from any thread. Network trouble (a dropped connection,
a 5xx, a stall) is retried with exponential backoff, resuming from the exact byte
reached; only errors that waiting cannot fix (gated repo, full disk, bad checksum) fail.
The file work (open, keep, discard, verify, install) is its `partial.PartialFile`'s.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from lmdesk.core.hub import HubError, RateLimited
from lmdesk.core.hub.rate_limit import wait_out, waiting_words

from .errors import BadResponse, DownloadError, RemoteChanged
from .model import JobSettings, JobSnapshot, JobState
from .partial import PartialFile
from .paths import Layout
from .sidecar import PartialState
from .source import Source, hub_source
from .speed import SpeedMeter

log = logging.getLogger(__name__)


class DownloadJob:
    def __init__(
        self,
        layout: Layout,
        partial: PartialState,
        settings: JobSettings,
        notify: Callable[[DownloadJob, bool], None],
        *,
        state: JobState = JobState.QUEUED,
        message: str = "Waiting",
        source: Source | None = None,
    ) -> None:
        self.partial, self.settings, self._notify_cb = partial, settings, notify
        self.source = source or hub_source(settings.endpoint, settings.token)
        self.repo_id, self.filename = partial.repo_id, partial.filename
        self.job_id = f"{self.repo_id}/{self.filename}"
        self.final_path = layout.final_path(self.repo_id, self.filename)
        self._file = PartialFile(layout, partial)
        self.part_path, self.sidecar_path = self._file.part_path, self._file.sidecar_path
        self._lock = threading.RLock()
        self._run_lock = threading.Lock()
        self._wake = threading.Event()
        self._state, self._message, self._attempt = state, message, 0
        self._stop: str | None = None  # "pause" | "cancel" | "shutdown" while running
        self._requeue = False
        self._meter = SpeedMeter(settings.speed_window_s)

    # -- what the UI reads ---------------------------------------------------------------
    @property
    def state(self) -> JobState:
        return self._state

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            received, total = self._file.received, self.partial.size
            done = received if received is not None else self.partial.bytes_done
            if self._state is JobState.DONE and total is not None:
                done = total
            speed = self._meter.rate() if self._state is JobState.RUNNING else 0.0
            eta = (total - done) / speed if speed > 0 and total is not None else None
            return JobSnapshot(
                job_id=self.job_id,
                repo_id=self.repo_id,
                filename=self.filename,
                state=self._state,
                bytes_done=done,
                total=total,
                speed_bps=speed,
                eta_s=eta,
                message=self._message,
                attempt=self._attempt,
                path=self.final_path,
            )

    # -- control, from any thread; True means "put me on the queue" ----------------------
    def pause(self) -> None:
        with self._lock:
            if self._state is JobState.QUEUED:
                self._set(JobState.PAUSED, "Paused")
                self.partial.user_paused = True
            elif self._state in (JobState.RUNNING, JobState.RETRYING, JobState.VERIFYING):
                self._request_stop("pause")
                self._requeue = False
        self._notify(True)

    def resume(self) -> bool:
        with self._lock:
            if self._stop == "pause":
                self._requeue = True  # resumed before the pause took hold: run again
                return False
            if self._state is not JobState.PAUSED:
                return self.retry()
            self.partial.user_paused = False
            self._set(JobState.QUEUED, "Waiting")
        self._notify(True)
        return True

    def retry(self) -> bool:
        with self._lock:
            if self._state not in (JobState.FAILED, JobState.CANCELLED):
                return False
            self.partial.url = None  # ask the hub again: the file may have changed
            self.partial.error = None
            self._set(JobState.QUEUED, "Waiting")
        self._notify(True)
        return True

    def cancel(self) -> None:
        with self._lock:
            if self._state in (JobState.RUNNING, JobState.RETRYING, JobState.VERIFYING):
                self._request_stop("cancel")
                return
            if self._state is JobState.DONE:
                return
            self._file.discard()
            self._set(JobState.CANCELLED, "Cancelled")
        self._notify(True)

    def stop_for_shutdown(self) -> None:
        with self._lock:
            if self._state in (JobState.RUNNING, JobState.RETRYING, JobState.VERIFYING):
                self._request_stop("shutdown")

    def wants_requeue(self) -> bool:
        return self._state is JobState.QUEUED

    # -- the worker thread ---------------------------------------------------------------
    def run(self) -> None:
        with self._run_lock:
            with self._lock:
                if self._state is not JobState.QUEUED:
                    return
                self._stop, self._requeue = None, False
                self._wake.clear()
                self._set(JobState.RUNNING, "Starting")
            self._notify(True)
            try:
                self._run()
            except (DownloadError, HubError) as exc:
                self._fail(str(exc))
            except Exception as exc:  # a worker thread must never die silently
                log.exception("download %s crashed", self.job_id)
                self._fail(f"Unexpected error: {exc}")

    def _run(self) -> None:
        failures = 0
        while True:
            if self._stop:
                return self._finish_stop()
            start = self._file.received
            try:
                with self._lock:
                    self._attempt += 1
                if not self._prepare():
                    return self._finish_stop()
                self._set_message("Downloading")
                self._meter.restart()
                transfer = self._file.transfer
                assert transfer is not None
                with self.source.errors(self.partial):
                    transfer.fetch()
                if self._stop:
                    return self._finish_stop()
                if transfer.complete:
                    return self._install()
                raise BadResponse("The connection ended before the whole file arrived")
            except (DownloadError, HubError) as exc:
                if self._stop:
                    return self._finish_stop()
                if not exc.retryable:
                    raise
                if isinstance(exc, RemoteChanged):
                    self.partial.url = None  # look the new version up before fetching it
                now = self._file.received
                failures = (
                    1 if start is not None and now is not None and now > start else failures + 1
                )
                if failures > self.settings.retry.max_failures:
                    raise DownloadError(f"Gave up after {failures - 1} retries: {exc}") from exc
                if isinstance(exc, RateLimited):  # the hub said how long: wait that, not ours
                    self._wait_out_rate_limit(exc.retry_after_s)
                else:
                    self._backoff(str(exc), self.settings.retry.delay(failures))

    def _backoff(self, reason: str, delay: float) -> None:
        with self._lock:
            self._set(JobState.RETRYING, f"{reason.rstrip('.')}. Retrying in {delay:.1f} s")
        self._notify(True)
        self._wake.wait(delay)
        self._reconnect()

    def _wait_out_rate_limit(self, seconds: float | None) -> None:
        """A 429: count the hub's stated wait (Retry-After / RateLimit) down in the status."""

        def tell(left: int) -> None:
            if self._stop:
                return
            with self._lock:
                self._set(JobState.RETRYING, waiting_words(left))
            self._notify(True)

        wait_out(seconds, on_wait=tell, sleep=lambda step: self._wake.wait(step))
        self._reconnect()

    def _reconnect(self) -> None:
        with self._lock:
            self._wake.clear()
            if not self._stop:
                self._set(JobState.RUNNING, "Reconnecting")
        self._notify(True)

    def _prepare(self) -> bool:
        """Resolve the file, check the disk and open the partial; False if asked to stop."""
        if self.partial.url is None:
            self._set_message(f"Looking the file up on {self.source.name}")
            self._file.look_up(self.source)
        transfer = self._file.transfer
        if transfer is not None and transfer.still_valid():
            return True
        transfer = self._file.start_transfer(
            self.source, self.settings, self._on_bytes, lambda: self._stop is not None
        )
        if self.partial.bytes_done:
            self._set_message("Checking the bytes already downloaded")
        return transfer.open()

    def _on_bytes(self, n: int) -> None:
        self._meter.add(n)
        self._notify(False)

    def _install(self) -> None:
        """Check the sha256, then move the file into the library in one atomic rename."""
        with self._lock:
            self._set(JobState.VERIFYING, "Checking the file's sha256")
        self._notify(True)
        self._file.install(self.final_path, self.source.name)
        with self._lock:
            self._set(JobState.DONE, f"Saved to {self.final_path}")
        self._notify(True)

    def _finish_stop(self) -> None:
        with self._lock:
            reason = self._stop
            if reason == "cancel":
                self._file.discard()
                self._set(JobState.CANCELLED, "Cancelled")
            else:
                self.partial.user_paused = reason == "pause"
                self._file.keep(stay_open=reason == "pause")
                message = "Paused" if reason == "pause" else "Stopped; resumes when lmdesk restarts"
                self._set(JobState.PAUSED, message)
                if self._requeue:
                    self.partial.user_paused = False
                    self._set(JobState.QUEUED, "Waiting")
            self._stop = None
        self._notify(True)

    def _fail(self, message: str) -> None:
        with self._lock:
            self._file.keep_failed(message)
            self._set(JobState.FAILED, message)
        self._notify(True)

    # -- helpers --------------------------------------------------------------------------
    def _request_stop(self, reason: str) -> None:
        self._stop = reason
        self._wake.set()
        self._file.interrupt()

    def _set(self, state: JobState, message: str) -> None:
        self._state, self._message = state, message

    def _set_message(self, message: str) -> None:
        with self._lock:
            self._message = message
        self._notify(True)

    def _notify(self, force: bool) -> None:
        self._notify_cb(self, force)
