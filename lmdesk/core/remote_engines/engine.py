"""`RemoteEngine`: the chat's engine interface over an OpenAI-compatible server.

Loading checks that the server lists the model and remembers it; a reply is
``POST /v1/chat/completions`` with ``stream: true``, read as server-sent events into the
same `TextChunk`s and final `ReplyStats` the local engine yields. The server applies its
own chat template. Token counts are the server's (``usage``) when it sends them, else
one token per streamed piece and, for prompts, an estimate (`estimate_tokens`).
Used from one thread at a time (the scheduler's); only the stop flag comes from others.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from ..cpu_threads import ThreadCounts
from ..engine.chunks import ChatChunk, ReplyStats, StopReason, TextChunk
from ..engine.context import ContextPolicy
from ..engine.errors import (
    CannotEmbed,
    EngineBusy,
    GenerationError,
    NoModelLoaded,
    TemplateError,
)
from ..engine.generate import StopFlag, as_predicate
from ..engine.loader import ProgressCallback
from ..engine.reports import LoadReport, UnloadReport
from ..engine.template_guess import TemplateChoice
from ..engine.templates import Message, TemplateVariables
from ..load_settings import LoadSettings
from ..sampling import SamplingSettings
from .errors import RemoteModelGone, StreamCut
from .http import Timeouts, make_client, opened
from .listing import listed_models
from .request_body import chat_messages, estimate_tokens, sampling_fields
from .server import RemoteModel
from .sse import events

SERVER_TEMPLATE = "server"
"""The chat template's name for a remote model: the server applies its own."""
DEFAULT_CONTEXT = 8192
"""The context assumed when a server does not say (the server itself refuses what is too long)."""
_FINISH: dict[str, StopReason] = {"stop": "eos", "length": "max_tokens", "eos": "eos"}


@dataclass
class _Loaded:
    model: RemoteModel
    client: httpx2.Client
    report: LoadReport


class RemoteEngine:
    """One remote model at a time; one reply at a time."""

    def __init__(self, timeouts: Timeouts | None = None) -> None:
        self.timeouts = timeouts or Timeouts()
        self._current: _Loaded | None = None
        self._busy = False

    # --- loading -----------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._current is not None

    @property
    def report(self) -> LoadReport | None:
        return self._current.report if self._current is not None else None

    @property
    def model(self) -> RemoteModel | None:
        return self._current.model if self._current is not None else None

    @property
    def n_ctx(self) -> int:
        return self._require().report.n_ctx

    def load(
        self,
        model: RemoteModel,
        settings: LoadSettings | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        chat_template: str | None = None,
    ) -> LoadReport:
        """Check that the server lists ``model`` and remember it (`RemoteModelGone` if not)."""
        self._ensure_idle()
        self.unload()
        started = time.perf_counter()
        client = make_client(model.server, self.timeouts)
        try:
            listed = {m.model_id: m for m in listed_models(model.server, client=client)}
            if model.model_id not in listed:
                raise RemoteModelGone(
                    f"{model.server.name} does not list the model {model.model_id!r} any more. "
                    "Pick another model."
                )
        except BaseException:
            client.close()
            raise
        if on_progress is not None:
            on_progress(1.0)
        n_ctx = listed[model.model_id].n_ctx or DEFAULT_CONTEXT
        report = LoadReport(
            path=Path(model.label),
            settings=settings or LoadSettings(),
            load_s=time.perf_counter() - started,
            rss_before=0,
            rss_after=0,
            description=f"on {model.server.name}",
            architecture="",
            name=model.model_id,
            n_ctx=n_ctx,
            n_ctx_train=n_ctx,
            n_layer=0,
            n_params=0,
            size_bytes=0,
            has_builtin_template=True,
            chat_template=SERVER_TEMPLATE,
            template_choice=None,
            allocations=(),
            threads=ThreadCounts(0, 0),
            remote_server=model.server.name,
        )
        self._current = _Loaded(model, client, report)
        return report

    def unload(self) -> UnloadReport:
        """Forget the model and close the connection (nothing was in this machine's memory)."""
        self._ensure_idle()
        if self._current is not None:
            self._current.client.close()
            self._current = None
        return UnloadReport(0, 0)

    def close(self) -> None:
        if not self._busy:
            self.unload()

    # --- templates: the server's own -----------------------------------------------------
    @property
    def has_builtin_template(self) -> bool:
        return True

    @property
    def template_choice(self) -> TemplateChoice | None:
        return None

    def available_templates(self) -> list[str]:
        self._require()
        return [SERVER_TEMPLATE]

    @property
    def chat_template(self) -> str:
        return SERVER_TEMPLATE

    @chat_template.setter
    def chat_template(self, name: str) -> None:
        if name != SERVER_TEMPLATE:
            raise TemplateError("A remote server applies its own chat template.")

    def render_prompt(
        self,
        messages: Sequence[Message],
        *,
        continue_last: bool = False,
        variables: TemplateVariables | None = None,
    ) -> str:
        raise TemplateError("A remote server applies its own chat template; lmdesk cannot show it.")

    # --- tokens: estimates --------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """An estimate (about four characters a token): the server's tokenizer is not here."""
        self._require()
        return estimate_tokens(text)

    def count_message_tokens(
        self, messages: Sequence[Message], variables: TemplateVariables | None = None
    ) -> int:
        """An estimate of the prompt (text plus a few tokens a message for its template)."""
        self._require()
        return sum(estimate_tokens(str(m.get("content") or "")) + 4 for m in messages)

    @property
    def sees_images(self) -> bool:
        return False

    @property
    def can_embed(self) -> bool:
        return False

    def embed(self, texts: Sequence[str]) -> tuple[list[list[float]], int]:
        raise CannotEmbed("lmdesk does not ask remote servers for embeddings.")

    def reset_cache(self) -> None:
        self._require()

    # --- replies ------------------------------------------------------------------------------
    def chat(
        self,
        messages: Sequence[Message],
        sampling: SamplingSettings | None = None,
        *,
        stop_flag: StopFlag | None = None,
        context_policy: ContextPolicy = "truncate_oldest",
        continue_last: bool = False,
    ) -> Generator[ChatChunk, None, None]:
        """Stream the server's reply: `TextChunk`s, then one `ReplyStats`.

        ``continue_last`` is refused (`GenerationError`): OpenAI's API has no "carry on from
        this text", and a server that answered anew would glue a second reply onto the first.
        The server keeps the conversation within its context (or refuses it, in its words)."""
        current = self._require()
        self._ensure_idle()
        if continue_last:
            raise GenerationError(
                f"{current.model.server.name} cannot carry on a reply (the OpenAI API answers "
                "each request anew): use Regenerate, or ask it to go on."
            )
        sampling = sampling or SamplingSettings()
        wire = chat_messages(messages)
        if not wire:
            raise ValueError("the prompt is empty")
        prompt_estimate = self.count_message_tokens(messages)
        return self._run(
            current, "/chat/completions", {"messages": wire}, sampling, stop_flag, prompt_estimate
        )

    def complete(
        self,
        prompt: str,
        sampling: SamplingSettings | None = None,
        *,
        stop_flag: StopFlag | None = None,
        add_bos: bool = True,
        parse_special: bool = True,
    ) -> Generator[ChatChunk, None, None]:
        """Stream a plain continuation of ``prompt`` (``POST /v1/completions``)."""
        current = self._require()
        self._ensure_idle()
        if not prompt:
            raise ValueError("the prompt is empty")
        sampling = sampling or SamplingSettings()
        return self._run(
            current,
            "/completions",
            {"prompt": prompt},
            sampling,
            stop_flag,
            estimate_tokens(prompt),
        )

    def _run(
        self,
        current: _Loaded,
        path: str,
        fields: dict[str, Any],
        sampling: SamplingSettings,
        stop_flag: StopFlag | None,
        prompt_estimate: int,
    ) -> Generator[ChatChunk, None, None]:
        self._ensure_idle()
        should_stop = as_predicate(stop_flag)
        seed = sampling.seed if sampling.seed is not None else random.randrange(0, 2**31)
        body = {
            "model": current.model.model_id,
            **fields,
            **sampling_fields(sampling, seed),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        reply = _ReplyRun(prompt_estimate, seed)
        server = current.model.server
        self._busy = True
        try:
            if should_stop():
                reply.reason = "user_stop"
            else:
                with (
                    opened(
                        current.client,
                        server,
                        "POST",
                        path,
                        body=body,
                        model_id=current.model.model_id,
                    ) as response,
                    _closed_on_stop(response, should_stop),
                ):
                    try:
                        for event in events(response.iter_lines(), server_name=server.name):
                            yield from reply.feed(event)
                            if should_stop():
                                reply.reason = "user_stop"
                                break
                    except (httpx2.HTTPError, httpx2.StreamError) as exc:
                        if not should_stop():
                            raise _cut(exc, server.name, self.timeouts) from None
                        reply.reason = "user_stop"  # Stop closed the stream while it waited
                if reply.reason is None and should_stop():
                    reply.reason = "user_stop"
                if reply.reason is None:  # the stream ended without saying why: cut off
                    raise StreamCut(
                        f"{server.name} ended the reply before it was finished; the text so "
                        "far is kept."
                    )
            yield from reply.finish()
        finally:
            self._busy = False

    # --- guards ------------------------------------------------------------------------------
    def _require(self) -> _Loaded:
        if self._current is None:
            raise NoModelLoaded("No model is loaded. Load a model first.")
        return self._current

    def _ensure_idle(self) -> None:
        if self._busy:
            raise EngineBusy("A reply is still being generated. Stop it first, or wait.")


def _cut(exc: Exception, server_name: str, timeouts: Timeouts) -> StreamCut:
    if isinstance(exc, httpx2.TimeoutException):
        return StreamCut(
            f"{server_name} stopped sending the reply for {timeouts.read_s:g} s; the text so "
            "far is kept."
        )
    return StreamCut(
        f"The connection to {server_name} broke off in the middle of the reply; the text so "
        "far is kept."
    )


STOP_POLL_S = 0.05
"""How often Stop is looked at while the server is silent (evaluating a long prompt)."""


@contextmanager
def _closed_on_stop(response: httpx2.Response, should_stop: Callable[[], bool]) -> Iterator[None]:
    """Close ``response`` from a watcher thread when Stop comes while the server is silent, so
    Stop does not wait for the next token (which may be a long prompt away)."""
    done = threading.Event()
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None

    def watch() -> None:
        while not done.wait(STOP_POLL_S):
            if should_stop():
                # A blocked read wakes only when its socket is shut (closing the response
                # from here would wait for the read).
                if isinstance(sock, socket.socket):
                    with suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                return

    watcher = threading.Thread(target=watch, name="lmdesk-remote-stop", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


class _ReplyRun:
    """One streamed reply: its text, its pieces and timings, and the server's usage."""

    def __init__(self, prompt_estimate: int, seed: int) -> None:
        self.seed = seed
        self.started = time.perf_counter()
        self.first_at: float | None = None
        self.thinking_ended_at: float | None = None
        self.text: list[str] = []
        self.pieces = 0
        self.reasoning_pieces = 0
        self.in_thinking = False
        self.reason: StopReason | None = None
        self.usage: dict[str, Any] = {}
        self.prompt_estimate = prompt_estimate

    def feed(self, event: dict[str, Any]) -> Generator[TextChunk, None, None]:
        usage = event.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
        choices = event.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return
        choice = choices[0]
        delta = choice.get("delta")
        if isinstance(delta, dict):
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            content = delta.get("content")
        else:  # /v1/completions
            reasoning, content = None, choice.get("text")
        if isinstance(reasoning, str) and reasoning:
            opened = "" if self.in_thinking else "<think>"
            self.in_thinking = True
            self.reasoning_pieces += 1
            yield self._piece(opened + reasoning)
        if isinstance(content, str) and content:
            closed = ""
            if self.in_thinking:
                closed, self.in_thinking = "</think>", False
                self.thinking_ended_at = time.perf_counter()
            yield self._piece(closed + content)
        finish = choice.get("finish_reason")
        if isinstance(finish, str) and finish:
            self.reason = _FINISH.get(finish, "eos")

    def _piece(self, text: str) -> TextChunk:
        if self.first_at is None:
            self.first_at = time.perf_counter()
        self.pieces += 1
        self.text.append(text)
        return TextChunk(text, 1)

    def finish(self) -> Generator[ChatChunk, None, None]:
        if self.in_thinking:
            yield TextChunk("</think>", 0)
            self.text.append("</think>")
            self.thinking_ended_at = time.perf_counter()
        generated = _count(self.usage.get("completion_tokens"), self.pieces)
        if generated > self.pieces:
            yield TextChunk("", generated - self.pieces)  # the chunks add up to the total
        finished = time.perf_counter()
        first = self.first_at if self.first_at is not None else finished
        after_first = finished - first
        yield ReplyStats(
            text="".join(self.text),
            prompt_tokens=_count(self.usage.get("prompt_tokens"), self.prompt_estimate),
            cached_tokens=0,
            generated_tokens=generated,
            ttft_s=first - self.started,
            tokens_per_s=(generated - 1) / after_first if generated > 1 and after_first else 0.0,
            total_s=finished - self.started,
            stop_reason=self.reason or "eos",
            seed=self.seed,
            reasoning_tokens=self.reasoning_pieces,
            reasoning_s=(self.thinking_ended_at - first) if self.thinking_ended_at else 0.0,
            counts_estimated=_count(self.usage.get("completion_tokens"), -1) < 0,
        )


def _count(value: object, fallback: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return max(value, 0)
    return fallback
