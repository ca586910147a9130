"""One chat request on its model, whichever API asked: queue it, stream the reasoning and
the answer apart, and turn a reply that is a tool call into one.

    run = await ChatRun.start(state, model_name, plan, ttl=None)
    async for kind, text in run.deltas():     # ("reasoning" | "content", text)
        ...
    run.outcome                               # text, reasoning, tool call, stats, usage
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from starlette.requests import Request

from ..engine import EngineError, ReplyStats, SamplingSettings
from ..engine.templates import Message
from ..reasoning import ReasoningSplitter
from ..serving import ChatJob, CompleteJob
from .bridge import JobStream
from .errors import from_engine
from .state import ServerState
from .tools import ToolCall, ToolSpec, parse_call

Delta = tuple[Literal["reasoning", "content"], str]


@dataclass(frozen=True)
class ChatPlan:
    """What to generate: messages (or a raw prompt), sampling, and the tools offered."""

    messages: Sequence[Message] = ()
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    tools: Sequence[ToolSpec] = ()
    prompt: str | None = None
    """A plain completion of this text instead of a chat."""


@dataclass(frozen=True)
class Outcome:
    model_id: str
    content: str
    reasoning: str
    tool_call: ToolCall | None
    stats: ReplyStats

    @property
    def finish(self) -> Literal["stop", "length", "tool_calls"]:
        if self.tool_call is not None:
            return "tool_calls"
        if self.stats.stop_reason in ("max_tokens", "context_full"):
            return "length"
        return "stop"

    @property
    def prompt_tokens(self) -> int:
        return int(self.stats.prompt_tokens)

    @property
    def completion_tokens(self) -> int:
        return int(self.stats.generated_tokens)


class ChatRun:
    def __init__(self, model_id: str, stream: JobStream, plan: ChatPlan) -> None:
        self.model_id = model_id
        self.stream = stream
        self.plan = plan
        self.outcome: Outcome | None = None

    @classmethod
    async def start(
        cls,
        state: ServerState,
        request: Request,
        model: str | None,
        plan: ChatPlan,
        *,
        ttl: int | None = None,
    ) -> ChatRun:
        """Find (or load) the model and queue the job; `ApiError` 404/429/... if not."""
        model_id, scheduler = await state.acquire(model, ttl)
        request.state.model = model_id
        if state.config.log_message_text:
            last = plan.messages[-1].get("content", "") if plan.messages else plan.prompt
            request.state.text = last
        if plan.prompt is not None:
            job: ChatJob | CompleteJob = CompleteJob(
                plan.prompt, plan.sampling, cap_to_context=True
            )
        else:
            job = ChatJob(plan.messages, plan.sampling, context_policy="stop", cap_to_context=True)
        try:
            stream = JobStream.start(scheduler, job, client="api")
        except EngineError as exc:
            raise from_engine(exc) from exc
        return cls(model_id, stream, plan)

    async def deltas(self) -> AsyncIterator[Delta]:
        """Reasoning and answer text as it comes; with tools, the answer once it is known
        not to be a tool call. Raises `ApiError` for a failure."""
        splitter = ReasoningSplitter(answer_only=self.plan.prompt is not None)  # completions: as is
        hold = bool(self.plan.tools)
        try:
            async for text in self.stream.chunks():
                reasoning, content = splitter.feed(text)
                if reasoning:
                    yield "reasoning", reasoning
                if content and not hold:
                    yield "content", content
        except EngineError as exc:
            raise from_engine(exc) from exc
        reasoning, content = splitter.finish()
        if reasoning:
            yield "reasoning", reasoning
        call = parse_call(splitter.content, self.plan.tools) if self.plan.tools else None
        if call is None:
            if hold and splitter.content:
                yield "content", splitter.content
            elif content:
                yield "content", content
        stats: ReplyStats = self.stream.result
        self.outcome = Outcome(
            self.model_id,
            "" if call else splitter.content,
            splitter.reasoning,
            call,
            stats,
        )

    async def finish(self, request: Request) -> Outcome:
        """Run to the end without streaming; stop if the client goes away meanwhile."""
        watcher = asyncio.create_task(_cancel_on_disconnect(request, self.stream))
        try:
            async for _ in self.deltas():
                pass
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        assert self.outcome is not None
        return self.outcome


async def _cancel_on_disconnect(request: Request, stream: JobStream) -> None:
    while not await request.is_disconnected():
        await asyncio.sleep(0.25)
    stream.cancel()


def note_usage(request: Request, run: ChatRun) -> None:
    """For the request log: tokens and the time spent waiting in the queue."""
    outcome = run.outcome
    if outcome is not None:
        request.state.prompt_tokens = outcome.prompt_tokens
        request.state.completion_tokens = outcome.completion_tokens
    handle = run.stream.handle
    if handle is not None:
        request.state.queue_wait_s = handle.queue_wait_s
