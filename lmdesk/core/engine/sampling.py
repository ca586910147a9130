"""How the next token is picked: the knobs of one reply, and named presets.

Plain data with no llama.cpp import, so settings screens and stored chats can
use it; `native.Sampler` turns it into a llama.cpp sampler chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class SamplingSettings:
    """Sampling for one reply.

    ``temperature=0`` picks the most likely token every time (greedy: the same
    prompt gives the same reply). ``top_k=0`` and ``top_p=1`` and ``min_p=0``
    switch those filters off; ``repeat_penalty=1`` switches the penalty off.
    ``max_tokens=None`` lets the reply run until the model ends it or the
    context is full. ``seed=None`` takes the load settings' seed, else a random one.
    ``stop`` holds strings that end the reply; they are not part of it.
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
        if any(not isinstance(s, str) for s in self.stop):
            out.append("stop strings must be text")
        return out

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def with_changes(self, **changes: Any) -> SamplingSettings:
        return replace(self, **changes)


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
