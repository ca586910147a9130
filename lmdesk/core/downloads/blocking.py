"""One download on the calling thread: a `DownloadJob` without the queue, for one-off files.

The starter model uses it. The job is the same as the Downloads page's (Range resume,
retries with backoff, stall detection, streamed sha256, atomic install), and so is the
partial's sidecar: a call that fails, is stopped or is killed leaves the partial and its
sidecar, and the next call for the same file resumes from the last checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lmdesk.core.units import MiB

from .errors import DownloadError
from .job import DownloadJob
from .model import JobSettings, JobState, RetryPolicy
from .paths import Layout
from .sidecar import PartialState
from .source import Source

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total): stage is 'download' or 'verify'; it may raise to stop."""

REPORT_EVERY = 1 * MiB  # byte progress at most this often; stage changes always


def one_off_settings(
    *, retry: RetryPolicy | None = None, stall_timeout_s: float = 20.0
) -> JobSettings:
    """Settings for a single foreground download: frequent checkpoints, a short stall."""
    return JobSettings(
        endpoint="",  # unused: the job gets its source explicitly
        token=None,
        stall_timeout_s=stall_timeout_s,
        checkpoint_bytes=4 * MiB,
        checkpoint_interval_s=1.0,
        speed_window_s=3.0,
        retry=retry or RetryPolicy(),
    )


def download_file(
    layout: Layout,
    repo_id: str,
    filename: str,
    source: Source,
    settings: JobSettings,
    progress: Progress | None = None,
) -> Path:
    """Download ``filename`` into ``layout`` as ``repo_id/filename``; return its final path.

    Already there: returned as is. A partial left by an earlier call is resumed. Raises
    `DownloadError` with the job's message when it fails; an exception raised by
    ``progress`` stops the download (its partial kept for next time) and is re-raised.
    """
    sidecar = layout.sidecar_path(repo_id, filename)
    partial = PartialState.load(sidecar)
    if partial is None or (partial.repo_id, partial.filename) != (repo_id, filename):
        partial = PartialState(repo_id=repo_id, filename=filename, revision="main")
    partial.url, partial.error, partial.user_paused = None, None, False  # look it up again
    raised: list[Exception] = []
    reported = [-REPORT_EVERY]

    def notify(job: DownloadJob, force: bool) -> None:
        if progress is None or raised:
            return
        snap = job.snapshot()
        step = snap.bytes_done - reported[0]
        if snap.total is None or not (
            force or step >= REPORT_EVERY or snap.bytes_done == snap.total
        ):
            return
        reported[0] = snap.bytes_done
        stage = "verify" if snap.state in (JobState.VERIFYING, JobState.DONE) else "download"
        try:
            progress(stage, snap.bytes_done, snap.total)
        except Exception as exc:  # a cancelled task, say: stop, keep the partial, re-raise
            raised.append(exc)
            job.stop_for_shutdown()

    job = DownloadJob(layout, partial, settings, notify, source=source)
    if job.final_path.exists():
        return job.final_path
    job.run()
    if raised:
        raise raised[0]
    if job.state is not JobState.DONE:
        raise DownloadError(job.snapshot().message)
    return job.final_path
