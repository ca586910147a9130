"""The benchmark as a job in a loaded model's queue (`core.serving.ModelScheduler`).

The app has one owner of its loaded model; a benchmark that loaded the model itself
would put a second copy beside the chat's in RAM or VRAM. So the Load panel's
Benchmark runs here, on the engine the chat uses, in its turn: it notes what the
engine holds, loads each setting in its place (`Engine.load` frees the model before
loading the next), measures it like `run_bench`, and at the end (done, cancelled or
failed) loads back what was there, with its settings and chat template, or unloads
if nothing was. `lmdesk bench` has no app model and keeps using `run_bench`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.errors import LoadCancelled
from ..engine.switch import EngineSwitch
from ..load_settings import LoadSettings
from ..serving.jobs import Emit, Job
from .bench import (
    DEFAULT_REPETITIONS,
    BenchCancelled,
    BenchResult,
    Progress,
    checked_prompt,
    measure_loaded,
    stepper,
)
from .predict import GENERATED_TOKENS


@dataclass(frozen=True)
class BenchOutcome:
    """What a benchmark job did: the settings it finished, whether it was cancelled, and
    what it loaded back (None: nothing was loaded before)."""

    results: tuple[BenchResult, ...]
    cancelled: bool
    restored: Path | None


@dataclass(frozen=True)
class BenchJob(Job):
    """Measure `path` at each of `gpu_layers` on the queue's engine, then put back what it held.

    ``on_result`` is called (on the queue's thread) with each setting's result as soon as it
    is finished, so a cancel keeps the finished ones; ``on_progress`` as `run_bench`'s.
    The handle's cancel event stops it between tokens or during a load."""

    path: Path
    settings: LoadSettings
    gpu_layers: Sequence[int]
    repetitions: int = DEFAULT_REPETITIONS
    prompt_tokens: int | None = None
    generated_tokens: int = GENERATED_TOKENS
    on_progress: Progress | None = None
    on_result: Callable[[BenchResult], None] | None = field(default=None, compare=False)
    kind = "benchmark"

    def run(self, engine: EngineSwitch, cancel: threading.Event, emit: Emit) -> Any:
        prompt = checked_prompt(
            self.settings, self.repetitions, self.prompt_tokens, self.generated_tokens
        )
        before = engine.report
        remote = engine.remote.model if engine.backend is engine.remote else None
        total = len(self.gpu_layers) * (1 + 2 * self.repetitions) + (before is not None)
        step = stepper(total, self.on_progress, cancel)
        results: list[BenchResult] = []
        cancelled = False
        try:
            for layers in self.gpu_layers:
                settings = self.settings.with_changes(n_gpu_layers=layers)
                step(f"loading with {layers} GPU layers")
                engine.load(self.path, settings, on_progress=lambda _f: not cancel.is_set())
                result = measure_loaded(
                    engine.local.native_model(),  # a file here: the local engine holds it
                    settings,
                    self.repetitions,
                    prompt,
                    self.generated_tokens,
                    step,
                    cancel,
                )
                results.append(result)
                if self.on_result is not None:
                    self.on_result(result)
        except (BenchCancelled, LoadCancelled):
            cancelled = True
        finally:
            self._restore(engine, before, remote)
        if self.on_progress is not None:
            self.on_progress(total, total, "done")
        return BenchOutcome(tuple(results), cancelled, before.path if before else None)

    def _restore(self, engine: EngineSwitch, before: Any, remote: Any) -> None:
        """Load back what the engine held, a file or a remote server's model (never
        cancelled: the person gets their model back)."""
        if before is None:
            if engine.loaded:
                engine.unload()
            return
        if self.on_progress is not None:
            total = len(self.gpu_layers) * (1 + 2 * self.repetitions) + 1
            self.on_progress(total - 1, total, f"loading {before.path.name} back")
        if remote is not None:
            engine.load(remote, before.settings)
            return
        engine.load(before.path, before.settings, chat_template=before.chat_template)
