"""Does Auto's adaptation pay? Prompt processing with and without it, quiet and busy.

    python bench/prompt_threads.py [MODEL.gguf] [--rounds R]
    (default: the starter model, 3 rounds)

One engine, one model, a prompt of about 700 tokens evaluated from scratch
each time (cache cleared), then 16 greedy tokens. Contenders, alternated:

- adaptive: lmdesk's Auto as the engine runs it (`cpu_threads.threads_now`
  before each reply: never more threads than the cores others leave; here
  replies follow each other, so each reads a 50 ms window);
- fixed: the same default counts, not adapted (every core for the prompt);

in two phases: quiet, then beside a process streaming through memory (the
busy neighbour of `chat_throughput.py`). Printed: prompt tokens/s (medians),
the reply's tokens/s, and adaptive / fixed per phase.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PROMPT = "Summarise this list. " + " ".join(
    f"Item {i} is a blue box on the shelf." for i in range(70)
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from chat_throughput import start_neighbour

    from lmdesk.core import cpu_threads
    from lmdesk.core.engine import Engine, ReplyStats, SamplingSettings
    from lmdesk.core.load_settings import LoadSettings
    from lmdesk.core.starter import given_or_starter_model

    path = given_or_starter_model(args.model)
    engine = Engine()
    engine.load(path, LoadSettings(n_ctx=2048, flash_attn=False))
    sampling = SamplingSettings(temperature=0.0, max_tokens=16, seed=1, repeat_penalty=1.0)
    adaptive = cpu_threads.threads_now
    rules: dict[str, Callable[[cpu_threads.LoadSampler], cpu_threads.ThreadCounts]] = {
        "adaptive": adaptive,
        "fixed": lambda _sampler: cpu_threads.default_threads(),
    }

    def one(
        rule: Callable[[cpu_threads.LoadSampler], cpu_threads.ThreadCounts],
    ) -> tuple[float, float, int]:
        cpu_threads.threads_now = rule  # type: ignore[assignment]  # the engine reads it per reply
        try:
            engine.reset_cache()
            stats = None
            for item in engine.complete(PROMPT, sampling):
                if isinstance(item, ReplyStats):
                    stats = item
            assert stats is not None
            batch = engine._native.threads().batch  # type: ignore[union-attr]
            return stats.prompt_tokens / (stats.ttft_s or 1e-9), stats.tokens_per_s, batch
        finally:
            cpu_threads.threads_now = adaptive  # type: ignore[assignment]

    def phase(name: str) -> dict[str, float]:
        rows: dict[str, list[tuple[float, float, int]]] = {k: [] for k in rules}
        for round_ in range(args.rounds):
            order = list(rules) if round_ % 2 == 0 else list(reversed(rules))
            for key in order:
                rows[key].append(one(rules[key]))
        print(f"-- {name}")
        medians = {}
        for key, results in rows.items():
            medians[key] = statistics.median(r[0] for r in results)
            gen = statistics.median(r[1] for r in results)
            threads = ", ".join(str(r[2]) for r in results)
            each = ", ".join(f"{r[0]:.0f}" for r in results)
            print(
                f"{key:<9} prompt {medians[key]:7.1f} tok/s ({each}); reply {gen:5.1f} tok/s; "
                f"prompt threads {threads}"
            )
        print(f"adaptive / fixed (prompt): {medians['adaptive'] / medians['fixed']:.2f}")
        return medians

    prompt_tokens = engine.count_tokens(PROMPT)
    print(
        f"model {path.name}; prompt {prompt_tokens} tokens; "
        f"defaults {cpu_threads.default_threads()}"
    )
    phase("quiet")
    neighbour = start_neighbour()
    try:
        phase("busy")
    finally:
        neighbour.kill()
        neighbour.wait()
        engine.unload()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
