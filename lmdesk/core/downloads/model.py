"""The plain data of the download queue: job states, snapshots, settings, retry policy."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    RETRYING = "retrying"  # stalled or dropped: waiting to reconnect
    VERIFYING = "verifying"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff; gives up after ``max_failures`` tries in a row without progress."""

    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    max_failures: int = 8

    def delay(self, failures: int) -> float:
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** max(failures - 1, 0)))


@dataclass(frozen=True)
class JobSettings:
    endpoint: str
    token: str | None
    stall_timeout_s: float
    checkpoint_bytes: int
    checkpoint_interval_s: float
    speed_window_s: float
    retry: RetryPolicy


@dataclass(frozen=True)
class JobSnapshot:
    """What the UI shows for a job, taken at one instant."""

    job_id: str
    repo_id: str
    filename: str
    state: JobState
    bytes_done: int
    total: int | None
    speed_bps: float  # rolling window; 0 when no bytes are arriving
    eta_s: float | None
    message: str
    attempt: int
    path: Path  # where the finished file is (or will be)
