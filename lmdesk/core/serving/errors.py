"""What the scheduler and the pool refuse, as `EngineError`s (a sentence for a person)."""

from __future__ import annotations

from ..engine import CannotEmbed, EngineError

__all__ = [
    "CannotEmbed",
    "InvalidJob",
    "JobCancelled",
    "ModelsBusy",
    "QueueFull",
    "UnknownModel",
]


class QueueFull(EngineError):
    """Too many jobs are waiting for this model; try again in ``retry_after_s`` seconds."""

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class JobCancelled(EngineError):
    """The job was cancelled before it started (or its scheduler was closed)."""


class InvalidJob(EngineError):
    """The job's input cannot be used (an empty prompt, a bad template name)."""


class UnknownModel(EngineError):
    """No model in My Models has this id."""

    def __init__(self, message: str, *, available: list[str]) -> None:
        super().__init__(message)
        self.available = available


class ModelsBusy(EngineError):
    """A model must be unloaded to make room, and every loaded one is busy."""
