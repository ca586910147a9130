"""A download's state in words: bytes, speed, time left, and what is going on."""

from __future__ import annotations

from lmdesk.core.downloads import JobSnapshot, JobState
from lmdesk.core.paths import display_path as display_path  # its pages import it from here
from lmdesk.core.units import format_size

STATE_WORDS = {
    JobState.QUEUED: "Waiting",
    JobState.RUNNING: "Downloading",
    JobState.PAUSED: "Paused",
    JobState.RETRYING: "Reconnecting",
    JobState.VERIFYING: "Checking the file",
    JobState.DONE: "Done",
    JobState.FAILED: "Failed",
    JobState.CANCELLED: "Cancelled",
}


def format_speed(bytes_per_s: float) -> str:
    return f"{format_size(bytes_per_s)}/s"


def format_eta(seconds: float | None) -> str:
    """'12 s left', '3 min left', '1 h 5 min left'; empty when unknown."""
    if seconds is None:
        return ""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s left"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s left" if s < 600 else f"{s // 60} min left"
    return f"{s // 3600} h {s % 3600 // 60} min left"


def bytes_text(snapshot: JobSnapshot) -> str:
    """'45.0 MiB of 93.8 MiB'; empty before the first byte (nothing to say yet)."""
    if snapshot.bytes_done == 0 and snapshot.state is not JobState.RUNNING:
        return ""
    if snapshot.total:
        return f"{format_size(snapshot.bytes_done)} of {format_size(snapshot.total)}"
    return format_size(snapshot.bytes_done) if snapshot.bytes_done else ""


def state_text(snapshot: JobSnapshot) -> str:
    """The state word, with the core's message when it says more (errors, retries, checks)."""
    word = STATE_WORDS.get(snapshot.state, snapshot.state.value)
    message = snapshot.message.strip()
    if snapshot.state in (JobState.FAILED, JobState.RETRYING) and message:
        return f"{word}: {message}"
    if snapshot.state is JobState.DONE:
        return "Done" if not message or message.startswith("Saved to") else message
    if snapshot.state is JobState.RUNNING and message not in ("", "Downloading", "Starting"):
        return message
    return word


def status_line(snapshot: JobSnapshot) -> str:
    """'45.0 MiB of 93.8 MiB · 12.3 MiB/s · 4 s left · Downloading'."""
    parts = [bytes_text(snapshot)] if snapshot.state is not JobState.DONE else []
    if snapshot.state is JobState.DONE and snapshot.total:
        parts.append(format_size(snapshot.total))
    if snapshot.state in (JobState.RUNNING, JobState.RETRYING):
        parts.append(format_speed(snapshot.speed_bps))
        parts.append(format_eta(snapshot.eta_s))
    parts.append(state_text(snapshot))
    return " · ".join(p for p in parts if p)
