"""One download: its state machine, retries with backoff, verification and install.

A job runs on a worker thread of the `DownloadManager`; `pause()`, `resume()`,
`cancel()` and `retry()` come from any thread. Network trouble (a dropped connection,
a 5xx, a stall) is retried with exponential backoff, resuming from the exact byte
reached; only errors that waiting cannot fix (gated repo, full disk, bad checksum) fail.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from lmdesk.core.hub import HubError

from .errors import BadResponse, DownloadError, RemoteChanged
from .install import check_space, install, verify
from .model import JobSettings, JobSnapshot, JobState
from .paths import Layout
from .sidecar import PartialState
from .source import Source, hub_source
from .speed import SpeedMeter
from .transfer import Transfer

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
        self.part_path = layout.part_path(self.repo_id, self.filename)
        self.sidecar_path = layout.sidecar_path(self.repo_id, self.filename)
        self._layout = layout
        self._lock = threading.RLock()
        self._run_lock = threading.Lock()
        self._wake = threading.Event()
        self._state, self._message, self._attempt = state, message, 0
        self._stop: str | None = None  # "pause" | "cancel" | "shutdown" while running
        self._requeue = False
        self._transfer: Transfer | None = None
        self._meter = SpeedMeter(settings.speed_window_s)

    # -- what the UI reads ---------------------------------------------------------------
    @property
    def state(self) -> JobState:
        return self._state

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            transfer, total = self._transfer, self.partial.size
            done = transfer.received if transfer is not None else self.partial.bytes_done
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
            self._discard_partial()
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
            start = self._transfer.received if self._transfer is not None else None
            try:
                with self._lock:
                    self._attempt += 1
                if not self._prepare():
                    return self._finish_stop()
                self._set_message("Downloading")
                self._meter.restart()
                assert self._transfer is not None
                with self.source.errors(self.partial):
                    self._transfer.fetch()
                if self._stop:
                    return self._finish_stop()
                if self._transfer.complete:
                    return self._install()
                raise BadResponse("The connection ended before the whole file arrived")
            except (DownloadError, HubError) as exc:
                if self._stop:
                    return self._finish_stop()
                if not exc.retryable:
                    raise
                if isinstance(exc, RemoteChanged):
                    self.partial.url = None  # look the new version up before fetching it
                now = self._transfer.received if self._transfer is not None else None
                failures = (
                    1 if start is not None and now is not None and now > start else failures + 1
                )
                if failures > self.settings.retry.max_failures:
                    raise DownloadError(f"Gave up after {failures - 1} retries: {exc}") from exc
                self._backoff(str(exc), self.settings.retry.delay(failures))

    def _backoff(self, reason: str, delay: float) -> None:
        with self._lock:
            self._set(JobState.RETRYING, f"{reason.rstrip('.')}. Retrying in {delay:.1f} s")
        self._notify(True)
        self._wake.wait(delay)
        with self._lock:
            self._wake.clear()
            if not self._stop:
                self._set(JobState.RUNNING, "Reconnecting")
        self._notify(True)

    def _prepare(self) -> bool:
        """Resolve the file, check the disk and open the partial; False if asked to stop."""
        state = self.partial
        if state.url is None:
            self._set_message(f"Looking the file up on {self.source.name}")
            if self.source.look_up(state):
                self._close_transfer()
                state.bytes_done = 0  # another version of the file: start over
            state.save(self.sidecar_path)
        if self._transfer is not None and self._transfer.still_valid():
            return True
        self._close_transfer()
        check_space(self.part_path, self.partial, self._layout.root)
        transfer = Transfer(
            state,
            self.part_path,
            self.sidecar_path,
            headers=self.source.headers(),
            client=self.source.client(),
            stall_timeout_s=self.settings.stall_timeout_s,
            checkpoint_bytes=self.settings.checkpoint_bytes,
            checkpoint_interval_s=self.settings.checkpoint_interval_s,
            on_bytes=self._on_bytes,
            should_stop=lambda: self._stop is not None,
        )
        with self._lock:
            self._transfer = transfer
        if state.bytes_done:
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
        transfer = self._transfer
        assert transfer is not None
        self._close_transfer()
        try:
            verify(self.partial, transfer.sha256(), self.source.name)
        except DownloadError:
            self._discard_partial()
            raise
        install(self.part_path, self.final_path, self.sidecar_path, self._layout)
        with self._lock:
            self._set(JobState.DONE, f"Saved to {self.final_path}")
        self._notify(True)

    def _finish_stop(self) -> None:
        with self._lock:
            reason = self._stop
            if reason == "cancel":
                self._close_transfer()
                self._discard_partial()
                self._set(JobState.CANCELLED, "Cancelled")
            else:
                self.partial.user_paused = reason == "pause"
                if reason == "pause" and self._transfer is not None:
                    self._transfer.flush()  # keep the file open: resuming skips re-hashing
                    self._transfer.checkpoint()
                else:
                    self._close_transfer()
                    self.partial.save(self.sidecar_path)
                message = "Paused" if reason == "pause" else "Stopped; resumes when lmdesk restarts"
                self._set(JobState.PAUSED, message)
                if self._requeue:
                    self.partial.user_paused = False
                    self._set(JobState.QUEUED, "Waiting")
            self._stop = None
        self._notify(True)

    def _fail(self, message: str) -> None:
        with self._lock:
            try:
                self._close_transfer()
            except Exception:  # already failing: keep the first error
                log.debug("closing %s after a failure", self.job_id, exc_info=True)
            if self.part_path.exists() and self.part_path.stat().st_size > 0:
                self.partial.error = message  # kept, so a restart shows it and Retry resumes
                with contextlib.suppress(OSError):
                    self.partial.save(self.sidecar_path)
            else:
                self._discard_partial()  # nothing worth keeping
            self._set(JobState.FAILED, message)
        self._notify(True)

    # -- helpers --------------------------------------------------------------------------
    def _request_stop(self, reason: str) -> None:
        self._stop = reason
        self._wake.set()
        if self._transfer is not None:
            self._transfer.interrupt()

    def _close_transfer(self) -> None:
        transfer, self._transfer = self._transfer, None
        if transfer is not None:
            try:
                transfer.close()
            finally:
                self.partial.bytes_done = transfer.done

    def _discard_partial(self) -> None:
        self._close_transfer()
        self.part_path.unlink(missing_ok=True)
        self.sidecar_path.unlink(missing_ok=True)
        self._layout.prune_empty_dirs(self.part_path)
        self.partial.bytes_done = 0

    def _set(self, state: JobState, message: str) -> None:
        self._state, self._message = state, message

    def _set_message(self, message: str) -> None:
        with self._lock:
            self._message = message
        self._notify(True)

    def _notify(self, force: bool) -> None:
        self._notify_cb(self, force)
