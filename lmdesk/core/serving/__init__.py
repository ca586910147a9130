"""Serving: one queue per loaded model, shared by the chat pane and the API. No Qt.

`ModelScheduler` owns one engine (`EngineSwitch`: a file here, or in a child process for a
load over workers, or a remote server's model) and runs its jobs (load, unload, chat,
complete, count tokens, embed, set template) one at a time on one thread, FIFO, bounded.
`ModelPool` keeps a scheduler per loaded model, loads on request (JIT) with the one load
rule (`core.load_plan`), unloads the least recently used idle model when a new one does not
fit beside it, and unloads idle models after their TTL.
"""

from .errors import CannotEmbed, InvalidJob, JobCancelled, ModelsBusy, QueueFull, UnknownModel
from .jobs import (
    ChatJob,
    CompleteJob,
    CountTokensJob,
    EmbedJob,
    Job,
    LoadJob,
    SetTemplateJob,
    UnloadJob,
)
from .scheduler import DEFAULT_MAX_QUEUE, JobHandle, ModelScheduler, Sink

__all__ = [
    "DEFAULT_MAX_QUEUE",
    "CannotEmbed",
    "ChatJob",
    "CompleteJob",
    "CountTokensJob",
    "EmbedJob",
    "InvalidJob",
    "Job",
    "JobCancelled",
    "JobHandle",
    "LoadJob",
    "ModelScheduler",
    "ModelsBusy",
    "QueueFull",
    "SetTemplateJob",
    "Sink",
    "UnknownModel",
    "UnloadJob",
]
