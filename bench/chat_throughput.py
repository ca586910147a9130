"""What the app's path costs a streamed reply, against llama.cpp alone, quiet and busy.

    python bench/chat_throughput.py [MODEL.gguf] [--threads N] [--rounds R] [--quiet-only]
    (default: the starter model, the app's own thread choice, 3 rounds)

One process, one model file, the same thread counts (the app's Auto from
`core.cpu_threads` unless --threads is given), flash attention off
(llama-cpp-python's default) and the same greedy request (temperature 0,
seed 1, no repeat penalty, 256 tokens, same prompt) for three contenders,
run alternately R rounds each:

- app: the whole path a person uses: the chat page (offscreen, 1280x800),
  `ChatSession` saving to SQLite, the controller, the worker's QThread, the
  queued signals and the message view drawing the text. Timed on the GUI
  thread, from Send to the first text in the view and to the end of the
  reply (its whole text shown and saved);
- engine: lmdesk's Qt-free engine driven directly (the same core, no Qt);
- llama-cpp-python: its high-level `Llama.create_chat_completion(stream=True)`.

Two phases, in one run: quiet, then busy, with one other process beside the
contenders streaming through memory (numpy copying a 512 MB array in a loop,
as a browser or a build would compete for the cores and memory bandwidth).

Printed: tokens/s after the first token and time to first token per round
and as medians, per phase, and the ratios. The bars: the app busy at least
50 % of the app quiet, and the app at least 95 % of llama-cpp-python's
tokens/s in both phases.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PROMPT = "Write a long story about a dragon who learns to sing."
TOKENS = 256
N_CTX = 2048
BAR = 0.95
BUSY_BAR = 0.50
NEIGHBOUR = """
import numpy as np
a = np.ones(512 * 2**20 // 8)
b = np.empty_like(a)
print("ready", flush=True)
while True:
    np.copyto(b, a)
"""
"""The busy neighbour: streams through 2 x 512 MB of memory, on one core, forever."""
FLASH_ATTN = False
"""llama-cpp-python's default. lmdesk's own default is Auto, which on this CPU-only
build turns flash attention on and costs SmolLM2 ~10 % of its speed: compare like
with like."""


class Contender(Protocol):
    def run(self) -> Run: ...
    def close(self) -> None: ...


@dataclass
class Run:
    tokens: int
    ttft_s: float
    tokens_per_s: float


def speed(tokens: int, started: float, first: float, last: float) -> Run:
    rate = (tokens - 1) / (last - first) if tokens > 1 and last > first else 0.0
    return Run(tokens, first - started, rate)


class AppContender:
    """The chat page, as a person uses it; timed where the text appears."""

    def __init__(self, path: Path, threads: int | None) -> None:
        from PySide6.QtCore import QEventLoop
        from PySide6.QtWidgets import QApplication

        from lmdesk.core.load_settings import LoadSettings
        from lmdesk.core.settings import Settings
        from lmdesk.ui.pages.chat.page import ChatPage
        from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore

        self._app = QApplication.instance() or QApplication([])
        self._loop_type = QEventLoop
        context = AppContext(settings=SettingsStore(Settings()), signals=AppSignals())
        self.page = ChatPage(context)
        self.page.resize(1280, 800)
        self.page.show()
        loop = QEventLoop()
        self.page.controller.loaded.connect(loop.quit)
        self.page.load_model(
            str(path), LoadSettings(n_ctx=N_CTX, n_threads=threads, flash_attn=FLASH_ATTN)
        )
        loop.exec()

    def run(self) -> Run:
        page = self.page
        page.new_chat()
        values = page.session.sampling().with_changes(
            temperature=0.0, max_tokens=TOKENS, seed=1, repeat_penalty=1.0
        )
        page.session.set_sampling(values)
        times: list[float] = []
        page.session.reply_text.connect(lambda _m, _t: times.append(time.perf_counter()))
        stats: list[object] = []
        loop = self._loop_type()
        ended: list[float] = []  # the final text is in the view when reply_finished is handled

        def finished(reply_stats: object) -> None:
            ended.append(time.perf_counter())
            stats.append(reply_stats)
            loop.quit()

        page.session.reply_finished.connect(finished)
        started = time.perf_counter()
        page.send(PROMPT)
        loop.exec()
        page.session.reply_text.disconnect()
        page.session.reply_finished.disconnect()
        self._reconnect()
        tokens = stats[0].generated_tokens  # type: ignore[attr-defined]
        return speed(tokens, started, times[0], ended[0])

    def _reconnect(self) -> None:
        """`disconnect()` above dropped every receiver; put the page's own back."""
        page = self.page
        page.session.reply_text.connect(page.messages.append_text)
        page.session.reply_text.connect(page.meter._on_reply_text)
        page.session.reply_finished.connect(page._on_reply_finished)
        page.session.reply_finished.connect(page.meter._on_reply_finished)

    def close(self) -> None:
        self.page.shutdown()
        self.page.context.close()


class EngineContender:
    def __init__(self, path: Path, threads: int | None) -> None:
        from lmdesk.core.engine import Engine, SamplingSettings
        from lmdesk.core.load_settings import LoadSettings

        self.engine = Engine()
        self.engine.load(path, LoadSettings(n_ctx=N_CTX, n_threads=threads, flash_attn=FLASH_ATTN))
        self.sampling = SamplingSettings(
            temperature=0.0, max_tokens=TOKENS, seed=1, repeat_penalty=1.0
        )

    def run(self) -> Run:
        from lmdesk.core.engine import ReplyStats

        started = time.perf_counter()
        first = last = 0.0
        tokens = 0
        for item in self.engine.chat([{"role": "user", "content": PROMPT}], self.sampling):
            if isinstance(item, ReplyStats):
                tokens = item.generated_tokens
            elif item.text:
                last = time.perf_counter()
                first = first or last
        return speed(tokens, started, first, last)

    def close(self) -> None:
        self.engine.unload()


class LlamaContender:
    def __init__(self, path: Path, threads: int | None) -> None:
        import llama_cpp
        import llama_cpp.llama_cpp as native

        from lmdesk.core.cpu_threads import threads_for
        from lmdesk.core.estimate.cpu_buffers import extra_buffers_allowed

        counts = threads_for(threads)  # the same counts the app's engine gives llama.cpp

        # The same weight-layout policy as lmdesk's engine: on CPUs that advertise AMX
        # (this VM) llama.cpp's AMX kernels die with SIGILL, so the engine turns the
        # extra layouts off there. `Llama` has no parameter for it; its defaults do.
        defaults = native.llama_model_default_params

        def model_defaults() -> object:
            params = defaults()
            params.use_extra_bufts = extra_buffers_allowed()
            return params

        native.llama_model_default_params = model_defaults
        try:
            self.llm = llama_cpp.Llama(
                str(path),
                n_ctx=N_CTX,
                n_threads=counts.generation,
                n_threads_batch=counts.batch,
                flash_attn=FLASH_ATTN,
                verbose=False,
            )
        finally:
            native.llama_model_default_params = defaults

    def run(self) -> Run:
        started = time.perf_counter()
        first = last = 0.0
        finish = None
        stream = self.llm.create_chat_completion(
            [{"role": "user", "content": PROMPT}],
            temperature=0.0,
            seed=1,
            repeat_penalty=1.0,
            max_tokens=TOKENS,
            stream=True,
        )
        for chunk in stream:
            choice = chunk["choices"][0]  # type: ignore[index]
            if choice["delta"].get("content"):  # type: ignore[index, union-attr]
                last = time.perf_counter()
                first = first or last
            finish = choice.get("finish_reason") or finish  # type: ignore[union-attr]
        tokens = TOKENS if finish == "length" else -1  # "stop": fewer; not comparable
        return speed(tokens, started, first, last)

    def close(self) -> None:
        self.llm.close()


def start_neighbour() -> subprocess.Popen[str]:
    """The busy process beside the contenders; returns once its arrays are allocated."""
    neighbour = subprocess.Popen(
        [sys.executable, "-c", NEIGHBOUR], stdout=subprocess.PIPE, text=True
    )
    assert neighbour.stdout is not None
    if neighbour.stdout.readline().strip() != "ready":
        raise RuntimeError("the busy neighbour did not start (is numpy installed?)")
    time.sleep(1.0)  # let it settle into its loop
    return neighbour


def run_phase(contenders: dict[str, Contender], rounds: int) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {name: [] for name in contenders}
    for round_ in range(rounds):
        order = list(contenders)
        order = order[round_ % len(order) :] + order[: round_ % len(order)]  # rotate
        for name in order:
            runs[name].append(contenders[name].run())
    return runs


def report_phase(phase: str, runs: dict[str, list[Run]]) -> dict[str, float] | None:
    """Print one phase's table; its medians (None when a reply ended early)."""
    print(f"-- {phase}")
    print(f"{'contender':<18} {'tok/s (median)':>15} {'first token':>12}   rounds (tok/s)")
    medians: dict[str, float] = {}
    for name, results in runs.items():
        if any(r.tokens != TOKENS for r in results):
            print(f"{name}: a reply ended before {TOKENS} tokens; the rounds are not comparable")
            return None
        medians[name] = statistics.median(r.tokens_per_s for r in results)
        ttft = statistics.median(r.ttft_s for r in results)
        each = ", ".join(f"{r.tokens_per_s:.1f}" for r in results)
        print(f"{name:<18} {medians[name]:>15.1f} {ttft * 1000:>10.0f}ms   {each}")
    print(f"app / llama-cpp-python: {medians['app'] / medians['llama-cpp-python']:.3f}")
    print(f"app / engine:           {medians['app'] / medians['engine']:.3f}")
    return medians


def verdict(label: str, ratio: float, bar: float) -> bool:
    ok = ratio >= bar
    print(f"bar: {label} >= {bar:.0%} -> {ratio:.3f} {'within' if ok else 'UNDER'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?")
    parser.add_argument("--threads", type=int, default=None, help="default: the app's Auto")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quiet-only", action="store_true", help="skip the busy phase")
    args = parser.parse_args()
    os.environ["LMDESK_HOME"] = tempfile.mkdtemp(prefix="lmdesk-bench-")
    from lmdesk.core.cpu_threads import threads_for
    from lmdesk.core.starter import given_or_starter_model

    path = given_or_starter_model(args.model)
    counts = threads_for(args.threads)
    contenders: dict[str, Contender] = {
        "app": AppContender(path, args.threads),
        "engine": EngineContender(path, args.threads),
        "llama-cpp-python": LlamaContender(path, args.threads),
    }
    phases: dict[str, dict[str, list[Run]]] = {}
    try:
        phases["quiet"] = run_phase(contenders, args.rounds)
        if not args.quiet_only:
            neighbour = start_neighbour()
            try:
                phases["busy"] = run_phase(contenders, args.rounds)
            finally:
                neighbour.kill()
                neighbour.wait()
    finally:
        for contender in contenders.values():
            contender.close()

    how = "the app's Auto" if args.threads is None else "--threads"
    print(
        f"model: {path.name}; threads {counts.generation} generating, {counts.batch} for the "
        f"prompt ({how}); n_ctx {N_CTX}; flash attention {'on' if FLASH_ATTN else 'off'}; "
        f"greedy, {TOKENS} tokens"
    )
    medians = {phase: report_phase(phase, runs) for phase, runs in phases.items()}
    if any(m is None for m in medians.values()):
        return 2
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load}")
    ok = True
    for phase, m in medians.items():
        assert m is not None
        ok &= verdict(f"app / llama-cpp-python ({phase})", m["app"] / m["llama-cpp-python"], BAR)
    busy, quiet = medians.get("busy"), medians["quiet"]
    if busy is not None and quiet is not None:
        ok &= verdict("app busy / app quiet", busy["app"] / quiet["app"], BUSY_BAR)
        raw = busy["llama-cpp-python"] / quiet["llama-cpp-python"]
        print(f"(llama-cpp-python busy / quiet: {raw:.3f})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
