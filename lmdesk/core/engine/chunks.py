"""What a reply streams: text chunks, then one `ReplyStats` with the totals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

StopReason = Literal["eos", "stop_string", "max_tokens", "user_stop", "context_full"]


@dataclass(frozen=True)
class TextChunk:
    """New reply text; ``n_tokens`` is how many generated tokens it covers.

    Text held back (half a UTF-8 character, the start of a possible stop
    string) is released later, so a chunk can cover several tokens; the
    ``n_tokens`` of all chunks add up to `ReplyStats.generated_tokens`.
    """

    text: str
    n_tokens: int


@dataclass(frozen=True)
class ReplyStats:
    """The end of a reply: its full text and how it went."""

    text: str
    """The whole reply: equal to the chunks' text joined."""
    prompt_tokens: int
    """Tokens in the prompt, cached ones included."""
    cached_tokens: int
    """Prompt tokens reused from the KV cache (not evaluated again)."""
    generated_tokens: int
    """Tokens sampled for the reply (the end-of-generation token not counted)."""
    ttft_s: float
    """Seconds from the request to the first generated token (prompt evaluation included)."""
    tokens_per_s: float
    """Generation speed after the first token."""
    total_s: float
    stop_reason: StopReason
    seed: int
    dropped_messages: int = 0
    """Oldest messages left out to make the conversation fit (policy "truncate_oldest")."""
    reasoning_tokens: int = 0
    """Of ``generated_tokens``, those spent thinking (markers included; `core.reasoning`)."""
    reasoning_s: float = 0.0
    """Seconds from the first token to the end of the thinking."""
    counts_estimated: bool = False
    """The token counts are lmdesk's estimate, not the engine's (a remote server that sent
    no ``usage``: one token per streamed piece, the prompt by `estimate_tokens`)."""

    @property
    def answer_tokens(self) -> int:
        """Tokens of the answer alone (the thinking not counted)."""
        return self.generated_tokens - self.reasoning_tokens

    @property
    def answer_tokens_per_s(self) -> float:
        """Generation speed of the answer alone (the same as `tokens_per_s` without thinking)."""
        if not self.reasoning_tokens:
            return self.tokens_per_s
        seconds = self.total_s - self.ttft_s - self.reasoning_s
        return self.answer_tokens / seconds if self.answer_tokens > 0 and seconds > 0 else 0.0


ChatChunk: TypeAlias = TextChunk | ReplyStats
