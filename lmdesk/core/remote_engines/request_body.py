"""What lmdesk's sampling and messages become in an OpenAI request body."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..engine.templates import Message
from ..sampling import SamplingSettings


def sampling_fields(sampling: SamplingSettings, seed: int) -> dict[str, Any]:
    """OpenAI's fields, plus llama.cpp's extras (``top_k``, ``min_p``, ``repeat_penalty``)
    that llama-server, llama-cpp-python, lmdesk and vLLM read and others ignore."""
    body: dict[str, Any] = {
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "top_k": sampling.top_k,
        "min_p": sampling.min_p,
        "repeat_penalty": sampling.repeat_penalty,
        "presence_penalty": sampling.presence_penalty,
        "frequency_penalty": sampling.frequency_penalty,
        "seed": seed,
    }
    if sampling.max_tokens is not None:
        body["max_tokens"] = sampling.max_tokens
    if sampling.stop:
        body["stop"] = list(sampling.stop)[:4]  # OpenAI's limit
    return body


def chat_messages(messages: Sequence[Message]) -> list[dict[str, str]]:
    """Role and text of each message (the server applies its own template)."""
    return [
        {"role": str(m.get("role") or "user"), "content": str(m.get("content") or "")}
        for m in messages
    ]


def estimate_tokens(text: str) -> int:
    """About four characters a token (English; an estimate, not the server's tokenizer)."""
    return max(1, round(len(text) / 4)) if text else 0
