"""The engine hands llama.cpp the thread counts the rule chose (real llama.cpp, real SmolLM2).

The counts are read back from the llama.cpp context itself (`llama_n_threads`,
`llama_n_threads_batch`), not from lmdesk's own bookkeeping.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import llama_cpp
import pytest

from lmdesk.core.cpu_threads import ThreadCounts, default_threads, machine_cores
from lmdesk.core.engine import Engine, SamplingSettings
from lmdesk.core.load_settings import LoadSettings


def _context_threads(engine: Engine) -> ThreadCounts:
    ctx = engine._native.ctx  # type: ignore[union-attr]  # the one native handle, read-only here
    return ThreadCounts(
        generation=int(llama_cpp.llama_n_threads(ctx)),
        batch=int(llama_cpp.llama_n_threads_batch(ctx)),
    )


def test_automatic_threads_reach_llama_cpp(smollm2_path: Path) -> None:
    engine = Engine()
    try:
        report = engine.load(smollm2_path, LoadSettings(n_ctx=256))
        assert _context_threads(engine) == report.threads == default_threads()
        assert report.threads.generation < report.threads.batch or report.threads.batch == 1
        text = "".join(
            getattr(chunk, "text", "")
            for chunk in engine.complete("One, two,", SamplingSettings(max_tokens=4, seed=1))
        )
        assert text.strip()  # the model still runs with the chosen counts
    finally:
        engine.unload()


def test_a_chosen_thread_count_reaches_llama_cpp_for_both(smollm2_path: Path) -> None:
    engine = Engine()
    try:
        for chosen in (1, 3):
            report = engine.load(smollm2_path, LoadSettings(n_ctx=256, n_threads=chosen))
            assert _context_threads(engine) == ThreadCounts(chosen, chosen) == report.threads
            assert report.settings.n_threads == chosen
    finally:
        engine.unload()


@pytest.fixture
def busy_neighbour() -> Iterator[None]:
    """One other process keeping a core busy for the length of the test."""
    neighbour = subprocess.Popen([sys.executable, "-c", "while True:\n    pass\n"])
    try:
        yield
    finally:
        neighbour.kill()
        neighbour.wait()


def _reply(engine: Engine) -> None:
    for _ in engine.complete("One, two,", SamplingSettings(max_tokens=2, seed=1)):
        pass


def test_auto_gives_a_busy_neighbour_its_core(smollm2_path: Path, busy_neighbour: None) -> None:
    engine = Engine()
    try:
        engine.load(smollm2_path, LoadSettings(n_ctx=256))
        _reply(engine)
        used = _context_threads(engine)
        assert used.batch <= max(1, machine_cores() - 1)
        assert 1 <= used.generation <= used.batch
    finally:
        engine.unload()


def test_a_chosen_count_is_never_adapted(smollm2_path: Path, busy_neighbour: None) -> None:
    engine = Engine()
    try:
        engine.load(smollm2_path, LoadSettings(n_ctx=256, n_threads=2))
        _reply(engine)
        assert _context_threads(engine) == ThreadCounts(2, 2)
    finally:
        engine.unload()
