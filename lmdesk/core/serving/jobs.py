"""The work a `ModelScheduler` does for its one engine: each job is a small frozen value.

A job runs on the scheduler's thread with the engine, the handle's cancel event and an
``emit(text, n_tokens)`` for streamed text; what it returns is the job's result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine import Engine, EngineError, LoadSettings, ReplyStats, SamplingSettings, TextChunk
from ..engine.context import ContextPolicy
from ..engine.templates import Message
from .embed import embed_texts

Emit = Callable[[str, int], None]
"""Streamed text and the number of generated tokens it covers."""


class Job:
    """Something to do with the engine; subclasses say what."""

    kind = "job"

    def run(self, engine: Engine, cancel: threading.Event, emit: Emit) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class LoadJob(Job):
    """Load ``path`` (replacing what is loaded). ``on_progress(0..1)`` returning False cancels,
    as does the handle's cancel event. Result: the engine's `LoadReport`."""

    path: Path
    settings: LoadSettings
    chat_template: str | None = None
    on_progress: Callable[[float], bool | None] | None = None
    kind = "load"

    def run(self, engine: Engine, cancel: threading.Event, emit: Emit) -> Any:
        def progress(fraction: float) -> bool:
            if cancel.is_set():
                return False
            return self.on_progress is None or self.on_progress(fraction) is not False

        return engine.load(
            self.path, self.settings, on_progress=progress, chat_template=self.chat_template
        )


@dataclass(frozen=True)
class UnloadJob(Job):
    """Free the model. Result: the engine's `UnloadReport`."""

    kind = "unload"

    def run(self, engine: Engine, cancel: threading.Event, emit: Emit) -> Any:
        return engine.unload()


@dataclass(frozen=True)
class ChatJob(Job):
    """Answer ``messages``; streams text, result: `ReplyStats` (cancel = Stop, within a token)."""

    messages: Sequence[Message]
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    continue_last: bool = False
    context_policy: ContextPolicy = "truncate_oldest"
    kind = "chat"

    def run(self, engine: Engine, cancel: threading.Event, emit: Emit) -> Any:
        chunks = engine.chat(
            self.messages,
            self.sampling,
            stop_flag=cancel,
            context_policy=self.context_policy,
            continue_last=self.continue_last,
        )
        return _stream(chunks, emit)


@dataclass(frozen=True)
class CompleteJob(Job):
    """Continue ``prompt`` (no template); streams text, result: `ReplyStats`."""

    prompt: str
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    kind = "complete"

    def run(self, engine: Engine, cancel: threading.Event, emit: Emit) -> Any:
        return _stream(engine.complete(self.prompt, self.sampling, stop_flag=cancel), emit)


@dataclass(frozen=True)
class CountTokensJob(Job):
    """Tokens of the prompt ``messages`` make (template, BOS and generation prompt included),
    or of plain ``text``. Result: int."""

    messages: Sequence[Message] | None = None
    text: str | None = None
    kind = "count_tokens"

    def run(self, engine: Engine, cancel: threading.Event, emit: Emit) -> Any:
        if self.messages is not None:
            return engine.count_message_tokens(self.messages)
        return engine.count_tokens(self.text or "")


@dataclass(frozen=True)
class EmbedJob(Job):
    """One vector per text. Result: (vectors, token count). `CannotEmbed` for a chat model."""

    texts: Sequence[str]
    kind = "embed"

    def run(self, engine: Engine, cancel: threading.Event, emit: Emit) -> Any:
        return embed_texts(engine, self.texts)


@dataclass(frozen=True)
class SetTemplateJob(Job):
    """Use another chat template ("gguf", a built-in's name, "completion"). Result: its name."""

    name: str
    kind = "set_template"

    def run(self, engine: Engine, cancel: threading.Event, emit: Emit) -> Any:
        engine.chat_template = self.name
        return engine.chat_template


def _stream(chunks: Any, emit: Emit) -> ReplyStats:
    for chunk in chunks:
        if isinstance(chunk, TextChunk):
            emit(chunk.text, chunk.n_tokens)
        else:
            return chunk  # type: ignore[no-any-return]
    raise EngineError("the reply ended without its statistics")  # pragma: no cover
