"""What to do when a conversation no longer fits in the model's context.

A model sees at most ``n_ctx`` tokens: the prompt and the reply together.
Before each reply the engine checks that the rendered conversation plus the
room kept for the reply fits, and follows a policy when it does not:

- ``"truncate_oldest"`` leaves out the oldest turns, keeping the system
  prompt and everything from the last user message on;
- ``"stop"`` refuses, so the person decides (new chat, shorter message,
  larger context).

Either way a `ContextOverflow` says, in numbers, what did not fit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from .errors import ContextOverflow
from .templates import Message

ContextPolicy = Literal["truncate_oldest", "stop"]
CONTEXT_POLICIES: tuple[ContextPolicy, ...] = ("truncate_oldest", "stop")

MIN_REPLY_ROOM = 256
"""Room kept for a reply without ``max_tokens``: this, or a quarter of the context if smaller."""


def reply_budget(max_tokens: int | None, n_ctx: int) -> int:
    """Tokens to keep free for the reply."""
    if max_tokens is not None:
        return max_tokens
    return max(1, min(MIN_REPLY_ROOM, n_ctx // 4))


@dataclass(frozen=True)
class FittedConversation:
    messages: list[Message]
    prompt_tokens: int
    dropped: int
    """How many of the oldest messages were left out."""


def _protected_ranges(messages: Sequence[Message]) -> tuple[int, int]:
    """(end of the leading system messages, start of the last user turn)."""
    head = 0
    while head < len(messages) and messages[head]["role"] == "system":
        head += 1
    tail = len(messages) - 1
    while tail > head and messages[tail]["role"] != "user":
        tail -= 1
    return head, max(tail, head)


def fit_conversation(
    messages: Sequence[Message],
    *,
    count_tokens: Callable[[Sequence[Message]], int],
    n_ctx: int,
    reply_room: int,
    policy: ContextPolicy,
) -> FittedConversation:
    """Return the messages to send, after applying ``policy`` if they do not fit.

    ``count_tokens`` renders and tokenizes a list of messages (the prompt).
    Turns are dropped whole, so the kept part still starts with a user
    message, as strict templates demand.
    """
    if policy not in CONTEXT_POLICIES:
        raise ValueError(f"unknown context policy {policy!r}")
    limit = n_ctx - reply_room
    needed = count_tokens(messages)
    if needed <= limit:
        return FittedConversation(list(messages), needed, 0)
    if policy == "stop":
        raise ContextOverflow(
            f"This conversation needs {needed:,} tokens plus {reply_room:,} for the reply, "
            f"but the context holds {n_ctx:,}. Start a new chat, shorten the conversation, "
            "or load the model with a larger context.",
            needed=needed + reply_room,
            available=n_ctx,
        )
    head, tail = _protected_ranges(messages)
    # Cut points: drop messages[head:cut]; keep a cut only where a user turn starts.
    cuts = [c for c in range(head + 1, tail + 1) if c == tail or messages[c]["role"] == "user"]

    def kept(cut: int) -> list[Message]:
        return [*messages[:head], *messages[cut:]]

    # Fewer messages never need more tokens, so the first cut that fits is found by bisection.
    low, high = 0, len(cuts) - 1
    best: FittedConversation | None = None
    while low <= high:
        middle = (low + high) // 2
        candidate = kept(cuts[middle])
        tokens = count_tokens(candidate)
        if tokens <= limit:
            best = FittedConversation(candidate, tokens, cuts[middle] - head)
            high = middle - 1
        else:
            low = middle + 1
    if best is not None:
        return best
    smallest = count_tokens(kept(tail))
    raise ContextOverflow(
        f"Even with the older messages left out, the system prompt and the last message need "
        f"{smallest:,} tokens plus {reply_room:,} for the reply, but the context holds "
        f"{n_ctx:,}. Shorten the message or the system prompt, or load the model with a "
        "larger context.",
        needed=smallest + reply_room,
        available=n_ctx,
    )
