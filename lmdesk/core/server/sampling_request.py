"""A request's sampling fields laid over the server's base `SamplingSettings`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..engine import SamplingSettings
from .errors import ApiError
from .schemas import ChatRequest, CompletionRequest


def sampling_from(base: SamplingSettings, **given: Any) -> SamplingSettings:
    """``base`` with every field the request set (None: not set). ``stop`` may be one string."""
    changes = {key: value for key, value in given.items() if value is not None}
    stop = changes.get("stop")
    if isinstance(stop, str):
        changes["stop"] = (stop,)
    try:
        return base.with_changes(**changes)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc


def openai_sampling(
    base: SamplingSettings,
    body: ChatRequest | CompletionRequest,
    *,
    max_tokens: int | None,
    grammar: str | None = None,
) -> SamplingSettings:
    """The sampling fields both OpenAI endpoints take, laid over ``base``."""
    return sampling_from(
        base,
        temperature=body.temperature,
        top_p=body.top_p,
        top_k=body.top_k,
        min_p=body.min_p,
        presence_penalty=body.presence_penalty,
        frequency_penalty=body.frequency_penalty,
        repeat_penalty=body.repeat_penalty,
        seed=body.seed,
        stop=body.stop,
        max_tokens=max_tokens,
        grammar=grammar,
    )


def stops(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)
