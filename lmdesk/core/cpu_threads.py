"""How many CPU threads llama.cpp gets: the one rule for the engine, the Load panel and the CLI.

llama.cpp's own tools (``common_cpu_get_num_math`` in common/common.cpp) use
one thread per physical core: hyperthreads share a core's vector units and do
not help matrix arithmetic. lmdesk starts from the same count, restricted to
the CPUs this process may run on (its affinity), and then:

- prompt processing (``n_threads_batch``) uses every one of those cores: it is
  compute-bound and short, so all cores help;
- generation (``n_threads``) leaves one core free. llama.cpp's workers wait
  for each other by spinning, so when every core is taken and anything else
  runs (a browser, a build), one worker is descheduled and the rest spin: on
  2 cores beside one busy process, 2 threads made 15 tokens/s where 1 made 54
  (issue 12). Generation is bound by memory bandwidth, which a few cores
  already saturate, so the core left free costs little even on big machines.

On Auto the engine also looks, before each reply, at how many cores other
processes kept busy since the last reply ended (`LoadSampler`) and never uses
more threads than the cores they leave (`adapt_to_load`). On 2 cores beside a
busy neighbour that made an 836-token prompt 2.4-3x faster (1 prompt thread
instead of 2; `bench/prompt_threads.py`); generation already uses 1 there.

A person's choice in the Load panel (``LoadSettings.n_threads``) sets both, as
llama.cpp's ``-t`` does, and is never adapted.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class ThreadCounts:
    """Threads for llama.cpp's context: ``n_threads`` and ``n_threads_batch``."""

    generation: int
    """One token at a time (``n_threads``)."""
    batch: int
    """Prompt processing, many tokens at a time (``n_threads_batch``)."""


def usable_cores(*, physical: int | None, logical: int | None, allowed: int | None) -> int:
    """Physical cores this process can use, at least 1.

    ``physical`` and ``logical`` are the machine's counts (None when unknown:
    psutil cannot always tell physical cores); ``allowed`` is how many logical
    CPUs the process may run on (its affinity; None: all of them). With
    hyperthreading, ``allowed`` logical CPUs cover at least ``allowed / smt``
    cores; that conservative figure is used, since which CPUs are siblings is
    not known here.
    """
    logical = logical if logical and logical > 0 else (allowed or 1)
    physical = physical if physical and 0 < physical <= logical else logical
    allowed = min(allowed, logical) if allowed and allowed > 0 else logical
    per_core = max(1, logical // physical)
    return max(1, min(physical, -(-allowed // per_core)))


def choose_threads(
    *, physical: int | None, logical: int | None, allowed: int | None
) -> ThreadCounts:
    """The default thread counts for a machine (see the module's docstring for why)."""
    return adapt_to_load(usable_cores(physical=physical, logical=logical, allowed=allowed), 0.0)


def adapt_to_load(cores: int, busy_elsewhere: float) -> ThreadCounts:
    """Thread counts for ``cores`` usable cores while others keep ``busy_elsewhere`` cores busy.

    Never more threads than the cores the others leave (rounded: a process
    using 0.4 of a core leaves it), generation one fewer than that, at least 1.
    """
    free = max(1, cores - max(0, round(busy_elsewhere)))
    return ThreadCounts(generation=max(1, min(cores - 1, free)), batch=free)


def allowed_cpus() -> int | None:
    """How many logical CPUs this process may run on (None where the OS cannot say)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux: macOS, Windows
        return None


def machine_cores() -> int:
    """Physical cores this process may use on this machine."""
    return usable_cores(
        physical=psutil.cpu_count(logical=False),
        logical=psutil.cpu_count(logical=True),
        allowed=allowed_cpus(),
    )


def default_threads() -> ThreadCounts:
    """The default thread counts on this machine, for this process (the machine quiet)."""
    return adapt_to_load(machine_cores(), 0.0)


def _busy_seconds(times: object) -> float:
    """CPU seconds spent working in a `psutil.cpu_times()` reading (all but idle and I/O wait)."""
    names = ("user", "nice", "system", "irq", "softirq", "steal")
    return sum(float(getattr(times, name, 0.0)) for name in names)


def _own_seconds(times: object) -> float:
    """CPU seconds a `psutil.Process.cpu_times()` reading says the process used."""
    return float(getattr(times, "user", 0.0)) + float(getattr(times, "system", 0.0))


class LoadSampler:
    """How many cores other processes kept busy since the last reading.

    The whole machine's work minus this process's own, over wall time: 0.0 on
    an idle machine, about 1.0 beside one process that spins. The engine keeps
    one and restarts it when a reply ends, so the next reply reads the time the
    person spent writing (no wait); only a window shorter than ``min_window_s``
    is topped up with a sleep.
    """

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._mark = self._reading()

    def _reading(self) -> tuple[float, float, float]:
        """(wall clock, the machine's busy CPU seconds, this process's CPU seconds)."""
        own = _own_seconds(self._process.cpu_times())
        return time.perf_counter(), _busy_seconds(psutil.cpu_times()), own

    def restart(self) -> None:
        self._mark = self._reading()

    def busy_cores(self, *, min_window_s: float = 0.05) -> float:
        """Cores others kept busy since the last reading or restart; starts a new window."""
        wait = min_window_s - (time.perf_counter() - self._mark[0])
        if wait > 0:
            time.sleep(wait)
        (then, busy_then, own_then), now = self._mark, self._reading()
        self._mark = now
        others = (now[1] - busy_then) - (now[2] - own_then)
        return max(0.0, others / max(now[0] - then, 1e-6))


def busy_cores_elsewhere(window_s: float = 0.05) -> float:
    """How many cores other processes keep busy, sampled over ``window_s`` seconds from now."""
    return LoadSampler().busy_cores(min_window_s=window_s)


def threads_now(sampler: LoadSampler) -> ThreadCounts:
    """Auto's thread counts for the next reply: the default, less what others used lately."""
    cores = machine_cores()
    if cores == 1:
        return ThreadCounts(generation=1, batch=1)  # nothing to adapt: skip the reading
    return adapt_to_load(cores, sampler.busy_cores())


def threads_for(n_threads: int | None) -> ThreadCounts:
    """What llama.cpp gets for a load setting: the person's count for both, else the default."""
    if n_threads is None:
        return default_threads()
    return ThreadCounts(generation=n_threads, batch=n_threads)
