"""Measured tokens/s: load, process a prompt, generate, like llama-bench's pp512 / tg128.

For each setting: load the model with `core.engine`'s loader (the engine's own
thread rule, `core.cpu_threads`), then, several times over, clear the cache,
decode a 512-token prompt in one go (prompt tokens/s) and generate 128 tokens
one at a time after it (generation tokens/s), with random tokens as
llama-bench does (no sampling: the model's speed, not the sampler's). Each
figure is the median of the repetitions. `cancel` is checked between tokens
and during the load; a cancelled setting yields nothing (no half result).
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..cpu_threads import threads_for
from ..load_settings import LoadSettings
from .predict import GENERATED_TOKENS, bench_prompt_tokens

if TYPE_CHECKING:
    from ..engine.native import NativeModel

DEFAULT_REPETITIONS = 3

Progress = Callable[[int, int, str], None]
"""Called with (steps done, steps in all, what is being done now)."""


class BenchCancelled(Exception):
    """The person cancelled; results finished before it are kept."""


@dataclass(frozen=True)
class BenchResult:
    """The median tokens/s of one setting."""

    gpu_layers: int
    n_cpu_moe: int
    threads: int
    ctx: int
    prompt_tps: float
    generation_tps: float
    repetitions: int
    prompt_tokens: int
    generated_tokens: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "gpu_layers": self.gpu_layers,
            "n_cpu_moe": self.n_cpu_moe,
            "threads": self.threads,
            "ctx": self.ctx,
            "prompt_tps": round(self.prompt_tps, 2),
            "generation_tps": round(self.generation_tps, 2),
        }


def sweep_layers(n_layer: int, points: int = 6) -> list[int]:
    """GPU layer counts from 0 to all (n_layer + 1), evenly spaced: ``--gpu-layers sweep``."""
    top = n_layer + 1
    return sorted({round(top * i / (points - 1)) for i in range(points)})


def run_bench(
    path: Path,
    base: LoadSettings,
    gpu_layers: Sequence[int],
    *,
    repetitions: int = DEFAULT_REPETITIONS,
    prompt_tokens: int | None = None,
    generated_tokens: int = GENERATED_TOKENS,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[BenchResult]:
    """Measure `base` at each of `gpu_layers`; yields each setting's result when it is done.

    ``prompt_tokens`` defaults to 512 (fewer when the context is short,
    `bench_prompt_tokens`). Raises `BenchCancelled` when `cancel` is set and an
    `EngineError` when a load fails.
    """
    prompt = checked_prompt(base, repetitions, prompt_tokens, generated_tokens)
    stop = cancel or threading.Event()
    total = len(gpu_layers) * (1 + 2 * repetitions)
    step = stepper(total, progress, stop)
    for layers in gpu_layers:
        settings = base.with_changes(n_gpu_layers=layers)
        yield _measure(path, settings, repetitions, prompt, generated_tokens, step, stop)
    if progress is not None:
        progress(total, total, "done")


def checked_prompt(
    base: LoadSettings, repetitions: int, prompt_tokens: int | None, generated_tokens: int
) -> int:
    """The prompt's length; ValueError when the settings leave no room for the run."""
    if repetitions < 1:
        raise ValueError(f"repetitions must be at least 1, not {repetitions}")
    prompt = prompt_tokens or bench_prompt_tokens(base.n_ctx)
    if prompt + generated_tokens > base.n_ctx:
        raise ValueError(
            f"a {prompt}-token prompt and {generated_tokens} generated tokens need a context "
            f"of at least {prompt + generated_tokens}, not {base.n_ctx}"
        )
    return prompt


def stepper(total: int, progress: Progress | None, stop: threading.Event) -> Callable[[str], None]:
    """Counts steps for `progress`; raises `BenchCancelled` once `stop` is set."""
    done = [0]

    def step(text: str) -> None:
        if stop.is_set():
            raise BenchCancelled("the benchmark was cancelled")
        if progress is not None:
            progress(done[0], total, text)
        done[0] += 1

    return step


def _measure(
    path: Path,
    settings: LoadSettings,
    repetitions: int,
    prompt: int,
    generated: int,
    step: Callable[[str], None],
    stop: threading.Event,
) -> BenchResult:
    from ..engine.errors import LoadCancelled
    from ..engine.loader import load_native

    step(f"loading with {_label(settings)}")
    try:
        native = load_native(path, settings, on_progress=lambda _f: not stop.is_set()).native
    except LoadCancelled as exc:
        raise BenchCancelled("the benchmark was cancelled") from exc
    try:
        return measure_loaded(native, settings, repetitions, prompt, generated, step, stop)
    finally:
        native.close()


def _label(settings: LoadSettings) -> str:
    return f"{settings.n_gpu_layers} GPU layers"


def measure_loaded(
    native: NativeModel,
    settings: LoadSettings,
    repetitions: int,
    prompt: int,
    generated: int,
    step: Callable[[str], None],
    stop: threading.Event,
) -> BenchResult:
    """Measure a model loaded with `settings` (its cache is cleared before each repetition)."""
    label = _label(settings)
    rng = random.Random(0)
    special = {native.bos, native.eos}
    tokens = [t for t in range(native.n_vocab) if t not in special]
    prompt_rates: list[float] = []
    generation_rates: list[float] = []
    for rep in range(1, repetitions + 1):
        step(f"{label}: {prompt}-token prompt ({rep}/{repetitions})")
        native.clear()
        batch = rng.choices(tokens, k=prompt)
        started = time.perf_counter()
        native.decode(batch)
        prompt_rates.append(prompt / (time.perf_counter() - started))
        step(f"{label}: generating {generated} tokens ({rep}/{repetitions})")
        started = time.perf_counter()
        for _ in range(generated):
            if stop.is_set():
                raise BenchCancelled("the benchmark was cancelled")
            native.decode([rng.choice(tokens)])
        generation_rates.append(generated / (time.perf_counter() - started))
    native.clear()
    return BenchResult(
        gpu_layers=settings.n_gpu_layers,
        n_cpu_moe=int(getattr(settings, "n_cpu_moe", 0) or 0),
        threads=threads_for(settings.n_threads).generation,
        ctx=settings.n_ctx,
        prompt_tps=statistics.median(prompt_rates),
        generation_tps=statistics.median(generation_rates),
        repetitions=repetitions,
        prompt_tokens=prompt,
        generated_tokens=generated,
    )
