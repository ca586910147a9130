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

A person's choice in the Load panel (``LoadSettings.n_threads``) sets both, as
llama.cpp's ``-t`` does.
"""

from __future__ import annotations

import os
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
    cores = usable_cores(physical=physical, logical=logical, allowed=allowed)
    return ThreadCounts(generation=max(1, cores - 1), batch=cores)


def allowed_cpus() -> int | None:
    """How many logical CPUs this process may run on (None where the OS cannot say)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux: macOS, Windows
        return None


def default_threads() -> ThreadCounts:
    """The default thread counts on this machine, for this process."""
    return choose_threads(
        physical=psutil.cpu_count(logical=False),
        logical=psutil.cpu_count(logical=True),
        allowed=allowed_cpus(),
    )


def threads_for(n_threads: int | None) -> ThreadCounts:
    """What llama.cpp gets for a load setting: the person's count for both, else the default."""
    if n_threads is None:
        return default_threads()
    return ThreadCounts(generation=n_threads, batch=n_threads)
