"""Sampling as a conversation stores it: a plain dict of the Sampling tab's fields.

The dict is what `ChatStore` keeps per conversation (JSON); `to_sampling`
turns it into the engine's `SamplingSettings` when a reply starts. The engine
module is imported inside the functions (it loads llama.cpp), so building the
chat page stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lmdesk.core.settings import SamplingDefaults

if TYPE_CHECKING:
    from lmdesk.core.engine import SamplingSettings

SAMPLING_KEYS = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "max_tokens", "seed")
PRESET_KEYS = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty")
"""What a preset sets; the reply length and the seed stay as the person set them."""

SamplingValues = dict[str, Any]


def defaults_values(defaults: SamplingDefaults) -> SamplingValues:
    """The settings' defaults for new chats (seed -1 means "a new one each time": None)."""
    return {
        "temperature": defaults.temperature,
        "top_p": defaults.top_p,
        "top_k": defaults.top_k,
        "min_p": defaults.min_p,
        "repeat_penalty": defaults.repeat_penalty,
        "max_tokens": defaults.max_tokens,
        "seed": None if defaults.seed < 0 else defaults.seed,
    }


def merged(stored: Mapping[str, Any] | None, defaults: SamplingValues) -> SamplingValues:
    """A conversation's values over the defaults; unknown keys are ignored."""
    values = dict(defaults)
    for key in SAMPLING_KEYS:
        if stored is not None and key in stored:
            values[key] = stored[key]
    return values


def to_sampling(values: Mapping[str, Any]) -> SamplingSettings:
    """The engine's settings; raises ValueError with readable text for a bad value."""
    from lmdesk.core.engine import SamplingSettings

    max_tokens = values.get("max_tokens")
    seed = values.get("seed")
    return SamplingSettings(
        temperature=float(values["temperature"]),
        top_p=float(values["top_p"]),
        top_k=int(values["top_k"]),
        min_p=float(values["min_p"]),
        repeat_penalty=float(values["repeat_penalty"]),
        max_tokens=None if max_tokens in (None, 0) else int(max_tokens),
        seed=None if seed is None or int(seed) < 0 else int(seed),
    )


def cap_reply_length(values: Mapping[str, Any], n_ctx: int) -> SamplingValues:
    """At most half the context for ``max_tokens``.

    The engine keeps ``max_tokens`` free for the reply and refuses a prompt
    that leaves less, so a long default (1,024) with a small context (1,024)
    would refuse every message. A reply that runs out of room stops with
    "context full" either way; Continue carries on after it.
    """
    out = dict(values)
    limit = max(1, n_ctx // 2)
    if out.get("max_tokens") and int(out["max_tokens"]) > limit:
        out["max_tokens"] = limit
    return out


def preset_names() -> list[str]:
    from lmdesk.core.engine import PRESETS

    return list(PRESETS)


def with_preset(values: Mapping[str, Any], name: str) -> SamplingValues:
    """``values`` with the preset's sampling knobs (reply length and seed kept)."""
    from lmdesk.core.engine import PRESETS

    preset = PRESETS[name]
    out = dict(values)
    for key in PRESET_KEYS:
        out[key] = getattr(preset, key)
    return out


def matching_preset(values: Mapping[str, Any]) -> str | None:
    """The preset these values equal (on the preset's knobs), if any."""
    from lmdesk.core.engine import PRESETS

    for name, preset in PRESETS.items():
        if all(_close(values.get(key), getattr(preset, key)) for key in PRESET_KEYS):
            return name
    return None


def _close(a: object, b: object) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(float(a) - float(b)) < 1e-6
    return a == b
