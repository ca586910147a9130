"""The work a `ModelScheduler` does for its one engine: each job is a small frozen value.

A job runs on the scheduler's thread with the engine, the handle's cancel event and an
``emit(text, n_tokens)`` for streamed text; what it returns is the job's result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine import (
    ChatChunk,
    ContextOverflow,
    EngineError,
    LoadSettings,
    ReplyStats,
    SamplingSettings,
    TextChunk,
)
from ..engine.context import ContextPolicy
from ..engine.switch import EngineSwitch
from ..engine.templates import Message
from ..remote_engines import RemoteModel

Emit = Callable[[str, int], None]
"""Streamed text and the number of generated tokens it covers."""


class Job:
    """Something to do with the engine; subclasses say what."""

    kind = "job"

    def run(self, engine: EngineSwitch, cancel: threading.Event, emit: Emit) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class LoadJob(Job):
    """Load ``path`` (replacing what is loaded), a file or a remote server's model.
    ``on_progress(0..1)`` returning False cancels, as does the handle's cancel event.
    Result: the engine's `LoadReport`."""

    path: Path | RemoteModel
    settings: LoadSettings
    chat_template: str | None = None
    on_progress: Callable[[float], bool | None] | None = None
    kind = "load"

    def run(self, engine: EngineSwitch, cancel: threading.Event, emit: Emit) -> Any:
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

    def run(self, engine: EngineSwitch, cancel: threading.Event, emit: Emit) -> Any:
        return engine.unload()


@dataclass(frozen=True)
class ChatJob(Job):
    """Answer ``messages``; streams text, result: `ReplyStats` (cancel = Stop, within a token)."""

    messages: Sequence[Message]
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    continue_last: bool = False
    context_policy: ContextPolicy = "truncate_oldest"
    cap_to_context: bool = False
    """Cap ``max_tokens`` at the room the prompt leaves (unset: all of it); for the API."""
    kind = "chat"

    def run(self, engine: EngineSwitch, cancel: threading.Event, emit: Emit) -> Any:
        sampling = self.sampling
        if self.cap_to_context:
            used = engine.count_message_tokens(self.messages)
            sampling = _capped(sampling, room=engine.n_ctx - used, used=used, n_ctx=engine.n_ctx)
        chunks = engine.chat(
            self.messages,
            sampling,
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
    cap_to_context: bool = False
    kind = "complete"

    def run(self, engine: EngineSwitch, cancel: threading.Event, emit: Emit) -> Any:
        sampling = self.sampling
        if self.cap_to_context:
            used = engine.count_tokens(self.prompt) + 1  # and BOS
            sampling = _capped(sampling, room=engine.n_ctx - used, used=used, n_ctx=engine.n_ctx)
        return _stream(engine.complete(self.prompt, sampling, stop_flag=cancel), emit)


@dataclass(frozen=True)
class CountTokensJob(Job):
    """Tokens of the prompt ``messages`` make (template, BOS and generation prompt included),
    or of plain ``text``. Result: int."""

    messages: Sequence[Message] | None = None
    text: str | None = None
    kind = "count_tokens"

    def run(self, engine: EngineSwitch, cancel: threading.Event, emit: Emit) -> Any:
        if self.messages is not None:
            return engine.count_message_tokens(self.messages)
        return engine.count_tokens(self.text or "")


@dataclass(frozen=True)
class EmbedJob(Job):
    """One vector per text. Result: (vectors, token count). `CannotEmbed` for a chat model."""

    texts: Sequence[str]
    kind = "embed"

    def run(self, engine: EngineSwitch, cancel: threading.Event, emit: Emit) -> Any:
        return engine.embed(self.texts)


@dataclass(frozen=True)
class SetTemplateJob(Job):
    """Use another chat template ("gguf", a built-in's name, "completion"). Result: its name."""

    name: str
    kind = "set_template"

    def run(self, engine: EngineSwitch, cancel: threading.Event, emit: Emit) -> Any:
        engine.chat_template = self.name
        return engine.chat_template


def _capped(sampling: SamplingSettings, *, room: int, used: int, n_ctx: int) -> SamplingSettings:
    if room < 1:
        raise ContextOverflow(
            f"The prompt is {used:,} tokens long and the context holds {n_ctx:,}: there is "
            "no room for a reply. Shorten it, or load the model with a larger context.",
            needed=used + 1,
            available=n_ctx,
        )
    wanted = sampling.max_tokens
    return sampling.with_changes(max_tokens=room if wanted is None else min(wanted, room))


def _stream(chunks: Generator[ChatChunk, None, None], emit: Emit) -> ReplyStats:
    try:
        for chunk in chunks:
            if isinstance(chunk, TextChunk):
                emit(chunk.text, chunk.n_tokens)
            else:
                return chunk
    finally:
        chunks.close()  # an emit that raised: the engine is free again at once
    raise EngineError("the reply ended without its statistics")  # pragma: no cover
