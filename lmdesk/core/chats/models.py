"""The plain values the chat store hands out: conversations, messages, reply stats.

They are frozen dataclasses so a widget or a worker thread can hold one
without it changing under them; the database is the only thing that changes.
Timestamps are Unix seconds (``time.time()``) so they sort and compare
without time-zone questions; the UI formats them in local time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeGuard, get_args

Role = Literal["system", "user", "assistant"]
MessageState = Literal["complete", "streaming", "interrupted", "error", "stopped"]

ROLES: tuple[Role, ...] = get_args(Role)
MESSAGE_STATES: tuple[MessageState, ...] = get_args(MessageState)
#: States a reply can end in; "streaming" only ever lives while a writer is open.
FINAL_STATES: tuple[MessageState, ...] = tuple(s for s in MESSAGE_STATES if s != "streaming")


def is_role(value: object) -> TypeGuard[Role]:
    return value in ROLES


def is_message_state(value: object) -> TypeGuard[MessageState]:
    return value in MESSAGE_STATES


STOP_REASONS = {
    "eos": "end of text",
    "stop_string": "stop word",
    "max_tokens": "token limit",
    "user_stop": "by you",
    "context_full": "context full",
}
"""How each stop reason reads to a person."""


@dataclass(frozen=True, slots=True)
class MessageStats:
    """How a reply was generated, shown in the stats line under it."""

    prompt_tokens: int | None = None
    generated_tokens: int | None = None
    ttft_s: float | None = None
    tokens_per_s: float | None = None
    stop_reason: str | None = None
    reasoning_tokens: int | None = None
    """Tokens spent thinking (not in ``generated_tokens``, which counts the answer)."""
    reasoning_s: float | None = None
    """Seconds spent thinking."""
    estimated: bool = False
    """The counts are estimates (the engine sent none): shown with "≈"."""

    def thinking_summary(self) -> str:
        """ "Thought for 3.2 s · 120 tokens": the Thinking block's heading ('' without)."""
        if not self.reasoning_tokens:
            return ""
        noun = "token" if self.reasoning_tokens == 1 else "tokens"
        seconds = f"Thought for {self.reasoning_s:.1f} s · " if self.reasoning_s else ""
        return f"{seconds}{self.reasoning_tokens:,} {noun}"

    def summary(self) -> str:
        """ "128 tokens · 24 tok/s · first token 0.31 s · stopped: end of text": the line
        under a reply in the chat, and in a Markdown export."""
        parts: list[str] = []
        about = "≈ " if self.estimated else ""
        if self.generated_tokens is not None:
            noun = "token" if self.generated_tokens == 1 else "tokens"
            parts.append(f"{about}{self.generated_tokens:,} {noun}")
        if self.tokens_per_s:
            parts.append(f"{about}{self.tokens_per_s:.0f} tok/s")
        if self.ttft_s is not None:
            parts.append(f"first token {self.ttft_s:.2f} s")
        if self.stop_reason:
            parts.append(f"stopped: {STOP_REASONS.get(self.stop_reason, self.stop_reason)}")
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MessageStats:
        """Build from stored JSON, ignoring keys a newer lmdesk may have added."""
        return cls(
            prompt_tokens=_opt_int(data.get("prompt_tokens")),
            generated_tokens=_opt_int(data.get("generated_tokens")),
            ttft_s=_opt_float(data.get("ttft_s")),
            tokens_per_s=_opt_float(data.get("tokens_per_s")),
            stop_reason=None if data.get("stop_reason") is None else str(data["stop_reason"]),
            reasoning_tokens=_opt_int(data.get("reasoning_tokens")),
            reasoning_s=_opt_float(data.get("reasoning_s")),
            estimated=data.get("estimated") is True,
        )


@dataclass(frozen=True, slots=True)
class Conversation:
    id: int
    title: str
    created_at: float
    updated_at: float
    system_prompt: str
    #: The model last used in this conversation, so reopening it can offer to load it.
    model_path: str | None
    #: Sampling settings (temperature, top_p, ...) as the engine's JSON-able dict.
    sampling: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    conversation_id: int
    role: Role
    content: str
    created_at: float
    state: MessageState
    stats: MessageStats | None
    #: 0, 1, 2, ... within the conversation; messages are always listed in this order.
    position: int
    #: A reply's thinking (`core.reasoning` split it from the answer); '' for none.
    reasoning: str = ""


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One conversation matching a search, with the first matching message if any."""

    conversation: Conversation
    message_id: int | None
    snippet: str | None


def _opt_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, int | float | str):
        return int(value)
    raise TypeError(f"expected a number, got {value!r}")


def _opt_float(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float | str):
        return float(value)
    raise TypeError(f"expected a number, got {value!r}")
