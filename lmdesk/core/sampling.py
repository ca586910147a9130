"""How the next token is picked: the knobs of one reply, and named presets.

The one typed value for sampling everywhere: the settings' defaults for new chats
(`from_defaults`), what a conversation keeps (`to_stored` / `from_stored`, the JSON in
the chats database), the Sampling tab, and the engine. Plain data with no llama.cpp
import; `engine.native.Sampler` turns it into a llama.cpp sampler chain.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lmdesk.core.settings import SamplingDefaults

_log = logging.getLogger(__name__)

REASONING_EFFORTS = ("low", "medium", "high")
"""gpt-oss's reasoning efforts (its template's ``reasoning_effort``)."""

STORED_KEYS = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repeat_penalty",
    "max_tokens",
    "seed",
    "thinking",
    "reasoning_effort",
)
"""What a conversation keeps of its sampling (the Sampling tab's knobs)."""
PRESET_KEYS = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty")
"""What a preset sets; the reply length and the seed stay as the person set them."""


@dataclass(frozen=True)
class SamplingSettings:
    """Sampling for one reply.

    ``temperature=0`` picks the most likely token every time (greedy: the same
    prompt gives the same reply). ``top_k=0`` and ``top_p=1`` and ``min_p=0``
    switch those filters off; ``repeat_penalty=1`` switches the penalty off.
    ``max_tokens=None`` lets the reply run until the model ends it or the
    context is full. ``seed=None`` takes the load settings' seed, else a random one.
    ``stop`` holds strings that end the reply; they are not part of it.
    ``presence_penalty`` and ``frequency_penalty`` (OpenAI's, 0: off) lower the odds of
    tokens already in the last ``repeat_last_n``, once or per occurrence. ``grammar`` is
    llama.cpp GBNF text the reply must follow (JSON output, a forced tool call).
    ``thinking`` and ``reasoning_effort`` are the chat template's thinking switches
    (``enable_thinking`` for Qwen3, ``reasoning_effort`` for gpt-oss); None leaves the
    template's default. They travel with the reply's other knobs (per chat, per request).
    """

    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64
    max_tokens: int | None = None
    seed: int | None = None
    stop: Sequence[str] = ()
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    grammar: str | None = None
    thinking: bool | None = None
    reasoning_effort: str | None = None

    def __post_init__(self) -> None:
        # A list is accepted (it comes from JSON) but a tuple is stored: the settings are frozen.
        if not isinstance(self.stop, tuple):
            object.__setattr__(self, "stop", tuple(self.stop))
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))

    def problems(self) -> list[str]:
        """Why these settings are unusable, in words; empty when they are fine."""
        out: list[str] = []
        if not 0 <= self.temperature <= 5:
            out.append(f"temperature must be between 0 and 5, not {self.temperature}")
        if not 0 < self.top_p <= 1:
            out.append(f"top-p must be above 0 and at most 1, not {self.top_p}")
        if self.top_k < 0:
            out.append(f"top-k must be 0 (off) or more, not {self.top_k}")
        if not 0 <= self.min_p <= 1:
            out.append(f"min-p must be between 0 and 1, not {self.min_p}")
        if self.repeat_penalty <= 0:
            out.append(f"the repeat penalty must be above 0, not {self.repeat_penalty}")
        if self.repeat_last_n < 0:
            out.append(f"repeat_last_n must be 0 or more, not {self.repeat_last_n}")
        if self.max_tokens is not None and self.max_tokens < 1:
            out.append(f"max_tokens must be at least 1 (or unset), not {self.max_tokens}")
        if self.seed is not None and not 0 <= self.seed < 2**32:
            out.append(f"the seed must fit in 32 bits, not {self.seed}")
        for name in ("presence_penalty", "frequency_penalty"):
            if not -2 <= getattr(self, name) <= 2:
                out.append(f"{name} must be between -2 and 2, not {getattr(self, name)}")
        if any(not isinstance(s, str) for s in self.stop):
            out.append("stop strings must be text")
        if self.thinking is not None and not isinstance(self.thinking, bool):
            out.append(f"thinking must be on, off or unset, not {self.thinking!r}")
        if self.reasoning_effort is not None and self.reasoning_effort not in REASONING_EFFORTS:
            choices = ", ".join(REASONING_EFFORTS)
            out.append(
                f"the reasoning effort must be one of {choices}, not {self.reasoning_effort!r}"
            )
        return out

    def template_variables(self) -> dict[str, Any]:
        """The chat template's switches these settings set (none when left to the template)."""
        out: dict[str, Any] = {}
        if self.thinking is not None:
            out["enable_thinking"] = self.thinking
        if self.reasoning_effort is not None:
            out["reasoning_effort"] = self.reasoning_effort
        return out

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def with_changes(self, **changes: Any) -> SamplingSettings:
        return replace(self, **changes)

    @classmethod
    def from_defaults(cls, defaults: SamplingDefaults) -> SamplingSettings:
        """The settings' defaults for new chats (max_tokens 0: until done; seed -1: random)."""
        return cls(
            temperature=defaults.temperature,
            top_p=defaults.top_p,
            top_k=defaults.top_k,
            min_p=defaults.min_p,
            repeat_penalty=defaults.repeat_penalty,
            max_tokens=defaults.max_tokens or None,
            seed=None if defaults.seed < 0 else defaults.seed,
        )

    def to_stored(self) -> dict[str, Any]:
        """The JSON a conversation keeps (template switches only when set)."""
        out = {key: getattr(self, key) for key in STORED_KEYS}
        for key in ("thinking", "reasoning_effort"):
            if out[key] is None:
                del out[key]
        return out

    @classmethod
    def from_stored(
        cls, stored: Mapping[str, Any] | None, base: SamplingSettings
    ) -> SamplingSettings:
        """A conversation's stored values over `base`; a value that is unusable (a damaged or
        hand-edited database) keeps `base`'s and is logged, so a chat always opens."""
        out = base
        for key in STORED_KEYS:
            if stored is None or key not in stored:
                continue
            try:
                out = out.with_changes(**{key: _stored_value(key, stored[key])})
            except (TypeError, ValueError) as exc:
                _log.warning("stored sampling %s is unusable (%s); kept the default", key, exc)
        return out

    def capped(self, n_ctx: int) -> SamplingSettings:
        """At most half the context for ``max_tokens``.

        The engine keeps ``max_tokens`` free for the reply and refuses a prompt that leaves
        less, so a long default (1,024) with a small context (1,024) would refuse every
        message. A reply that runs out of room stops with "context full" either way;
        Continue carries on after it.
        """
        limit = max(1, n_ctx // 2)
        if self.max_tokens is not None and self.max_tokens > limit:
            return self.with_changes(max_tokens=limit)
        return self

    def with_preset(self, name: str) -> SamplingSettings:
        """These settings with the preset's knobs (reply length and seed kept)."""
        preset = PRESETS[name]
        return self.with_changes(**{key: getattr(preset, key) for key in PRESET_KEYS})

    def preset_name(self) -> str | None:
        """The preset these settings equal on the preset's knobs, if any."""
        for name, preset in PRESETS.items():
            if all(abs(getattr(self, k) - getattr(preset, k)) < 1e-6 for k in PRESET_KEYS):
                return name
        return None


MODEL_CARD_KEYS = {
    "general.sampling.temp": "temperature",
    "general.sampling.top_k": "top_k",
    "general.sampling.top_p": "top_p",
    "general.sampling.min_p": "min_p",
    "general.sampling.penalty_repeat": "repeat_penalty",
}
"""The GGUF keys a model's makers set their recommended sampling in, and our knob for each."""


def model_card_sampling(metadata: Mapping[str, str]) -> dict[str, float]:
    """The recommended sampling a model file carries (``general.sampling.*``), as stored
    values (`from_stored` applies them; an unusable one is left out there)."""
    out: dict[str, float] = {}
    for key, knob in MODEL_CARD_KEYS.items():
        text = metadata.get(key)
        if text is None:
            continue
        try:
            out[knob] = float(text)
        except ValueError:
            _log.warning("the model file's %s is not a number: %r", key, text)
    return out


_WHOLE = {"top_k", "max_tokens", "seed"}


def _stored_value(key: str, value: object) -> int | float | str | bool | None:
    """A stored number as the field takes it (max_tokens 0 and a negative seed mean unset)."""
    if value is None and key in ("max_tokens", "seed", "thinking", "reasoning_effort"):
        return None
    if key == "thinking":
        if not isinstance(value, bool):
            raise TypeError(f"{value!r} is not on or off")
        return value
    if key == "reasoning_effort":
        if not isinstance(value, str):
            raise TypeError(f"{value!r} is not a reasoning effort")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    if (key == "max_tokens" and value == 0) or (key == "seed" and value < 0):
        return None
    if key in _WHOLE:
        if value != int(value):
            raise ValueError(f"{value!r} is not a whole number")
        return int(value)
    return float(value)


PRESETS: dict[str, SamplingSettings] = {
    # Good for most chat: varied wording, rarely off-topic.
    "Balanced": SamplingSettings(),
    # Facts, code, extraction: close to greedy, little repetition penalty.
    "Precise": SamplingSettings(
        temperature=0.2, top_p=0.9, top_k=20, min_p=0.1, repeat_penalty=1.05
    ),
    # Stories and brainstorming: a flatter distribution, a wider pool.
    "Creative": SamplingSettings(
        temperature=1.0, top_p=0.95, top_k=100, min_p=0.02, repeat_penalty=1.1
    ),
}
DEFAULT_PRESET = "Balanced"
