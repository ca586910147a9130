"""The CPU thread rule: one thread per usable physical core, less one while generating.

The rule is a pure function of the machine's counts, checked here for machines
this one is not (hyperthreads, big and small, a narrowed affinity); the
affinity is also narrowed for real, in a child process, with
`os.sched_setaffinity`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmdesk.core.cpu_threads import (
    LoadSampler,
    ThreadCounts,
    adapt_to_load,
    busy_cores_elsewhere,
    choose_threads,
    default_threads,
    threads_for,
    usable_cores,
)
from lmdesk.core.load_settings import LoadSettings


@pytest.mark.parametrize(
    ("physical", "logical", "allowed", "expected"),
    [
        (1, 1, 1, ThreadCounts(generation=1, batch=1)),  # one core: nothing to leave free
        (2, 2, 2, ThreadCounts(generation=1, batch=2)),  # this machine: 2 cores, no SMT
        (2, 4, 4, ThreadCounts(generation=1, batch=2)),  # hyperthreads do not count
        (4, 8, 8, ThreadCounts(generation=3, batch=4)),
        (8, 16, 16, ThreadCounts(generation=7, batch=8)),
        (16, 16, 16, ThreadCounts(generation=15, batch=16)),
        (8, 16, 4, ThreadCounts(generation=1, batch=2)),  # affinity: 4 CPUs, at least 2 cores
        (8, 16, 5, ThreadCounts(generation=2, batch=3)),
        (8, 8, 3, ThreadCounts(generation=2, batch=3)),  # affinity without SMT
        (16, 32, 1, ThreadCounts(generation=1, batch=1)),  # pinned to one CPU
        (None, 4, 4, ThreadCounts(generation=3, batch=4)),  # psutil cannot tell physical
        (None, None, None, ThreadCounts(generation=1, batch=1)),  # nothing known
        (None, None, 6, ThreadCounts(generation=5, batch=6)),  # only the affinity known
        (8, 4, 4, ThreadCounts(generation=3, batch=4)),  # nonsense physical > logical
        (4, 8, 0, ThreadCounts(generation=3, batch=4)),  # an empty affinity: ignored
    ],
)
def test_thread_rule_for_given_machines(
    physical: int | None, logical: int | None, allowed: int | None, expected: ThreadCounts
) -> None:
    assert choose_threads(physical=physical, logical=logical, allowed=allowed) == expected


@given(
    physical=st.integers(1, 256),
    smt=st.integers(1, 4),
    allowed_share=st.floats(0.0, 1.0),
)
def test_thread_rule_never_takes_every_core_nor_more_than_allowed(
    physical: int, smt: int, allowed_share: float
) -> None:
    logical = physical * smt
    allowed = max(1, round(logical * allowed_share))
    threads = choose_threads(physical=physical, logical=logical, allowed=allowed)
    cores = usable_cores(physical=physical, logical=logical, allowed=allowed)
    assert 1 <= threads.generation <= threads.batch == cores <= min(physical, allowed)
    if cores > 1:
        assert threads.generation == cores - 1  # one core left for everything else


def test_a_chosen_count_sets_both_and_none_is_the_machines_default() -> None:
    assert threads_for(3) == ThreadCounts(generation=3, batch=3)
    assert threads_for(None) == default_threads()


def test_default_follows_this_machine_and_its_affinity() -> None:
    threads = default_threads()
    assert threads.batch <= len(os.sched_getaffinity(0))
    assert threads.generation == max(1, threads.batch - 1)


def test_a_process_pinned_to_one_cpu_gets_one_thread() -> None:
    cpu = min(os.sched_getaffinity(0))
    code = (
        "import os\n"
        f"os.sched_setaffinity(0, {{{cpu}}})\n"
        "from lmdesk.core.cpu_threads import default_threads\n"
        "t = default_threads()\n"
        "print(t.generation, t.batch)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["1", "1"]


def test_llama_cpp_python_kwargs_carry_the_rule() -> None:
    """`to_llama_kwargs` (for llama-cpp-python's `Llama`) uses the same rule as the engine."""
    auto = LoadSettings().to_llama_kwargs()
    assert (auto["n_threads"], auto["n_threads_batch"]) == (
        default_threads().generation,
        default_threads().batch,
    )
    chosen = LoadSettings(n_threads=3).to_llama_kwargs()
    assert (chosen["n_threads"], chosen["n_threads_batch"]) == (3, 3)


@pytest.mark.parametrize(
    ("cores", "busy", "expected"),
    [
        (2, 0.0, ThreadCounts(generation=1, batch=2)),  # quiet: every core for the prompt
        (2, 0.4, ThreadCounts(generation=1, batch=2)),  # a sliver of a core is not a core
        (2, 1.0, ThreadCounts(generation=1, batch=1)),  # one busy neighbour: leave it its core
        (2, 3.0, ThreadCounts(generation=1, batch=1)),  # never below 1
        (8, 0.0, ThreadCounts(generation=7, batch=8)),
        (8, 1.0, ThreadCounts(generation=7, batch=7)),
        (8, 2.6, ThreadCounts(generation=5, batch=5)),  # fewer for generation too
        (1, 1.0, ThreadCounts(generation=1, batch=1)),
    ],
)
def test_auto_leaves_the_cores_others_keep_busy(
    cores: int, busy: float, expected: ThreadCounts
) -> None:
    assert adapt_to_load(cores, busy) == expected


NEIGHBOUR = "while True:\n    pass\n"


@pytest.fixture
def busy_neighbour() -> Iterator[subprocess.Popen[bytes]]:
    """A process that keeps one core busy, as a build or a browser tab would."""
    neighbour = subprocess.Popen([sys.executable, "-c", NEIGHBOUR])
    try:
        yield neighbour
    finally:
        neighbour.kill()
        neighbour.wait()


def test_a_busy_neighbour_is_seen(busy_neighbour: subprocess.Popen[bytes]) -> None:
    # The sample is 10 ms clock ticks over 50 ms, and other work on a shared machine adds
    # to it: the neighbour's core must show in most of several samples.
    samples = [busy_cores_elsewhere(0.1) for _ in range(5)]
    assert sorted(samples)[2] >= 0.7, samples


def test_the_sampler_reads_the_time_since_the_last_reply() -> None:
    """The engine restarts it when a reply ends; the next reply reads everything since."""
    sampler = LoadSampler()
    neighbour = subprocess.Popen([sys.executable, "-c", NEIGHBOUR])
    try:
        time.sleep(0.6)  # the person writes; the neighbour runs all along
        assert sampler.busy_cores() >= 0.7
    finally:
        neighbour.kill()
        neighbour.wait()
    # (That it stops counting once the neighbour is gone cannot be asserted on a machine
    # shared with other work: their load is "elsewhere" too.)


def test_this_process_own_work_is_not_counted_as_others() -> None:
    """Spinning in this process (llama.cpp's threads would) is not someone else's load."""
    import threading

    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        busy_with_me = [busy_cores_elsewhere(0.1) for _ in range(5)]
    finally:
        stop.set()
        spinner.join()
    quiet = [busy_cores_elsewhere(0.1) for _ in range(5)]
    # Whatever else the machine runs, our own spinning core must not be added to it.
    assert sorted(busy_with_me)[2] <= sorted(quiet)[2] + 0.5, (busy_with_me, quiet)
