"""The token loop: evaluate the prompt, then sample, stream and check for a stop between tokens.

One generator per reply. Between any two tokens it checks, in this order:
the end-of-generation token, a stop string, ``max_tokens``, the person's
Stop, and whether the context has room for one more token. So Stop takes
effect within one token, and a full context ends the reply with
``"context_full"`` instead of an error from llama.cpp.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Sequence

from ..reasoning import ReasoningSplitter
from ..sampling import SamplingSettings
from .chunks import ChatChunk, ReplyStats, StopReason, TextChunk
from .native import NativeModel, Sampler
from .stops import StreamText

StopFlag = threading.Event | Callable[[], bool]


def as_predicate(stop_flag: StopFlag | None) -> Callable[[], bool]:
    """A `threading.Event` or a callable, seen as "should we stop now?"."""
    if stop_flag is None:
        return lambda: False
    if isinstance(stop_flag, threading.Event):
        return stop_flag.is_set
    return stop_flag


def generate(
    native: NativeModel,
    prompt: Sequence[int],
    sampling: SamplingSettings,
    *,
    seed: int,
    should_stop: Callable[[], bool],
    stop_strings: Sequence[str] = (),
    strip_leading: bool = False,
    dropped_messages: int = 0,
    prefix: str = "",
    prefill: Callable[[], int] | None = None,
) -> Generator[ChatChunk, None, None]:
    """Stream a reply to ``prompt`` (tokens, which must fit in the context).

    ``prefix`` is text the prompt already wrote for the reply (a ``<think>`` its generation
    prompt opened): it comes first, as a chunk of no tokens, so the stream describes itself.
    ``prefill`` evaluates a prompt that holds images instead (`vision.Projector.prefill`)
    and returns the positions it took; ``prompt`` is then only its text's tokens.
    """
    started = time.perf_counter()
    thinking = _ThinkingClock(started)
    if prefix:
        thinking.feed(prefix, 0)
        yield TextChunk(prefix, 0)
    cached = 0 if prefill is not None else native.keep_prefix(prompt)
    prompt_positions = len(prompt)
    stream = StreamText([*sampling.stop, *stop_strings], strip_leading=strip_leading)
    generated = 0
    unreported = 0
    first_token_at: float | None = None
    reason: StopReason
    sampler = Sampler(sampling, n_vocab=native.n_vocab, seed=seed, vocab=native.vocab)
    try:
        if (
            should_stop()
            or (prefill is not None and (prompt_positions := prefill()) == 0)
            or (prefill is None and not native.decode(prompt[cached:], should_stop=should_stop))
        ):
            reason = "user_stop"
        else:
            while True:
                token = sampler.sample(native)
                if first_token_at is None:
                    first_token_at = time.perf_counter()
                if native.is_eog(token):
                    reason = "eos"
                    break
                generated += 1
                unreported += 1
                text = stream.feed(native.piece(token))
                thinking.feed(text, 1)
                if text:
                    yield TextChunk(text, unreported)
                    unreported = 0
                if stream.stopped_by is not None:
                    reason = "stop_string"
                    break
                if sampling.max_tokens is not None and generated >= sampling.max_tokens:
                    reason = "max_tokens"
                    break
                if should_stop():
                    reason = "user_stop"
                    break
                if len(native.kv_tokens) >= native.n_ctx:
                    reason = "context_full"
                    break
                native.decode([token])
    finally:
        sampler.close()
    rest = stream.finish()
    thinking.feed(rest, 0)
    thinking.finish()
    if rest or unreported:
        yield TextChunk(rest, unreported)
    finished = time.perf_counter()
    if first_token_at is None:
        first_token_at = finished
    after_first = finished - first_token_at
    yield ReplyStats(
        text=prefix + stream.text,
        prompt_tokens=prompt_positions,
        cached_tokens=cached,
        generated_tokens=generated,
        ttft_s=first_token_at - started,
        tokens_per_s=(generated - 1) / after_first if generated > 1 and after_first > 0 else 0.0,
        total_s=finished - started,
        stop_reason=reason,
        seed=seed,
        dropped_messages=dropped_messages,
        reasoning_tokens=thinking.tokens,
        reasoning_s=thinking.seconds,
    )


class _ThinkingClock:
    """How many of a reply's tokens, and how many seconds, went to thinking."""

    def __init__(self, started: float) -> None:
        self._splitter = ReasoningSplitter()
        self._undecided = 0
        self._started = started
        self._first: float | None = None
        self.tokens = 0
        self.seconds = 0.0

    def feed(self, text: str, n_tokens: int) -> None:
        now = time.perf_counter()
        if self._first is None and n_tokens:
            self._first = now
        was_thinking = self._splitter.thinking
        self._splitter.feed(text)
        if self._splitter.undecided:
            self._undecided += n_tokens  # the reply's first characters may still open thinking
            return
        if was_thinking or self._splitter.thinking:
            self.tokens += self._undecided + n_tokens
            self.seconds = now - (self._first or now)
        self._undecided = 0

    def finish(self) -> None:
        self._splitter.finish()
