"""This machine's CPU as the speed model sees it: measured once, kept per machine.

`cpu_speed` returns the rates of llama.cpp's kernels (`ggml_probe`) for a weight
type, a model's attention head size and the thread counts llama.cpp will use
(`core.cpu_threads`), from a small JSON file in lmdesk's data folder; what is
not there yet is measured (about 0.3 s per thread count: never call it on the
GUI thread) and added. The file is
keyed by the machine (CPU model, logical CPUs, the llama.cpp library), so a
copied profile or a new llama.cpp measures again. `refresh=True` re-runs it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import os
import platform
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from ..cpu_threads import ThreadCounts
from ..paths import data_dir
from .ggml_probe import (
    KernelRates,
    ProbeError,
    disturbed,
    last_level_cache_bytes,
    measure_attention,
    measure_kernels,
    measure_step,
    reset_disturbed,
)

CACHE_FILE = "cpu_speed.json"
CHILD_TIMEOUT_S = 60.0
"""The most a probe's child process may take (it ends in about a second; a crawling machine
stops its runs early)."""
CACHE_VERSION = 2
"""2: a weight type's figures gained RAM's reading rate past a large cache (version 1's are
measured again)."""

_LOCK = threading.Lock()
_MEMO: dict[str, list[float]] = {}
"""This process's readings (the file is read once per key, not on every slider tick)."""


@dataclass(frozen=True)
class CpuSpeed:
    """The CPU's rates for one weight type: reading weights while generating (at
    ``threads.generation``) and arithmetic while processing a prompt (at ``threads.batch``)."""

    threads: ThreadCounts
    read_bytes_per_s: float
    flops: float
    attention_flash: float = 0.0
    """One generated token's attention with flash attention on (llama.cpp's choice on a CPU
    when left to it): query-head x cached-cell pairs per second; 0 when not measured."""
    attention_plain: float = 0.0
    """The same with flash attention off (K x Q, softmax, V x KQ)."""
    step_s: float = 0.0
    """Seconds per graph node besides its arithmetic (the threads' barrier, dispatch)."""
    ram_read_bytes_per_s: float = 0.0
    """Reading weights that overflow the last-level cache (0: as ``read_bytes_per_s``)."""
    cache_bytes: int = 0
    """The last-level cache that ``read_bytes_per_s`` may come from (0: unknown)."""

    def read_rate(self, nbytes: float) -> float:
        """Bytes per second for reading `nbytes` each token: the cache's rate when they fit
        in it, RAM's when they do not (streaming past the cache evicts them every time)."""
        if self.ram_read_bytes_per_s and nbytes > self.cache_bytes:
            return self.ram_read_bytes_per_s
        return self.read_bytes_per_s


@functools.cache
def machine_key() -> str:
    """What the measurements depend on: the CPU, how many CPUs, and the ggml build."""
    cpu = _cpu_model() or platform.processor() or platform.machine()
    try:
        import llama_cpp

        build = getattr(llama_cpp, "__version__", "")
    except ImportError:  # pragma: no cover - a dependency of lmdesk
        build = ""
    return f"{cpu} | {os.cpu_count()} CPUs | llama-cpp-python {build}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cache_path() -> Path:
    return data_dir() / CACHE_FILE


def _read_cache(path: Path) -> dict[str, list[float]]:
    """The measurements kept for this machine:
    ``"type/threads" -> [read B/s, FLOP/s, RAM read B/s]``,
    ``"attention/head_dim/threads" -> [flash, plain]`` (pairs/s), ``"step/threads" -> [s]``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return {}
    if data.get("machine") != machine_key():
        return {}
    rates = data.get("rates")
    if not isinstance(rates, dict):
        return {}
    return {
        k: [float(x) for x in v]
        for k, v in rates.items()
        if isinstance(v, list) and 1 <= len(v) <= 3 and all(isinstance(x, int | float) for x in v)
    }


def _write_cache(path: Path, rates: dict[str, list[float]]) -> None:
    data = {"version": CACHE_VERSION, "machine": machine_key(), "rates": rates}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _measure(key: str) -> list[float]:
    """Measure what `key` names: ``"type/threads"``, ``"attention/head_dim/threads"`` or
    ``"step/threads"`` (the one place a key becomes a probe run)."""
    kind, *rest = key.split("/")
    if kind == "attention":
        head_dim, threads = int(rest[0]), int(rest[1])
        return [
            measure_attention(head_dim, threads, flash=True),
            measure_attention(head_dim, threads, flash=False),
        ]
    if kind == "step":
        return [measure_step(int(rest[0]))]
    rates = measure_kernels(int(kind), int(rest[0]))
    return [rates.read_bytes_per_s, rates.flops, rates.ram_read_bytes_per_s]


def _child(conn: Connection, key: str) -> None:
    """The probe's process: measure `key`, send the figures and whether the runs crawled."""
    try:
        reset_disturbed()
        conn.send(("ok", _measure(key), disturbed()))
    except Exception as exc:  # sent as words: the parent raises ProbeError with them
        conn.send(("error", str(exc) or type(exc).__name__, True))
    finally:
        conn.close()


def _measure_apart(key: str) -> tuple[list[float], bool]:
    """`_measure` in a child process, so a probe that crashes (it drives ggml through ctypes
    beside a running model) ends only the child; `ProbeError` then."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(child, key), daemon=True)
    process.start()
    child.close()
    try:
        if not parent.poll(CHILD_TIMEOUT_S):
            raise ProbeError(f"the CPU probe took more than {CHILD_TIMEOUT_S:.0f} s")
        status, figures, crawled = parent.recv()
    except (EOFError, OSError):
        process.join(5)
        raise ProbeError(f"the CPU probe's process ended (status {process.exitcode})") from None
    finally:
        parent.close()
        process.join(5)
        if process.is_alive():
            process.kill()
    if status != "ok":
        raise ProbeError(str(figures))
    return list(figures), bool(crawled)


def _kept(key: str, refresh: bool, apart: bool) -> list[float]:
    """The figures under `key`: this process's, else the file's, else measured and kept
    (``apart``: measured in a child process)."""
    with _LOCK:
        if not refresh and key in _MEMO:
            return _MEMO[key]
        path = cache_path()
        rates = _read_cache(path)
        if not refresh and key in rates:
            _MEMO[key] = rates[key]
            return rates[key]
        if apart:
            measured, crawled = _measure_apart(key)
        else:
            reset_disturbed()
            measured = _measure(key)
            crawled = disturbed()
        if crawled:  # others held the cores: use it now, measure again next time
            return measured
        _MEMO[key] = rates[key] = measured
        with contextlib.suppress(OSError):  # a read-only profile: measure again next time
            _write_cache(path, rates)
        return measured


def kernel_rates(
    ggml_type: int, threads: int, *, refresh: bool = False, apart: bool = False
) -> KernelRates:
    """The rates for `ggml_type` on `threads` threads: kept, else measured and kept."""
    key = f"{ggml_type}/{threads}"
    figures = _kept(key, refresh, apart)
    if len(figures) != 3:  # a file edited by hand or cut short: measure again
        figures = _kept(key, True, apart)
    read, flops, ram = figures
    return KernelRates(ggml_type, threads, read, flops, ram)


def attention_rates(
    head_dim: int, threads: int, *, refresh: bool = False, apart: bool = False
) -> tuple[float, float]:
    """(flash, plain) attention pairs/s for `head_dim`-wide heads on `threads` threads."""
    flash, plain = _kept(f"attention/{head_dim}/{threads}", refresh, apart)
    return flash, plain


def step_seconds(threads: int, *, refresh: bool = False, apart: bool = False) -> float:
    """Seconds per graph node besides its arithmetic, on `threads` threads."""
    return _kept(f"step/{threads}", refresh, apart)[0]


def _keys(ggml_type: int, threads: ThreadCounts, head_dim: int) -> set[str]:
    keys = {f"{ggml_type}/{n}" for n in (threads.generation, threads.batch)}
    keys.add(f"step/{threads.generation}")
    if head_dim:
        keys.add(f"attention/{head_dim}/{threads.generation}")
    return keys


def is_measured(ggml_type: int, threads: ThreadCounts, head_dim: int = 0) -> bool:
    """Whether `cpu_speed` would answer without measuring (the UI shows "measuring" else)."""
    keys = _keys(ggml_type, threads, head_dim)
    if keys <= _MEMO.keys():
        return True
    return keys <= _read_cache(cache_path()).keys()


def cpu_speed(
    ggml_type: int,
    threads: ThreadCounts,
    head_dim: int = 0,
    *,
    refresh: bool = False,
    apart: bool = False,
) -> CpuSpeed:
    """The CPU's rates for `ggml_type` weights and `head_dim`-wide attention heads (0: leave
    attention unmeasured) with llama.cpp's `threads` (may measure). ``apart`` measures in a
    child process (the app: a probe that crashes must not take it down)."""
    how = {"refresh": refresh, "apart": apart}
    generation = kernel_rates(ggml_type, threads.generation, **how)
    batch = (
        generation
        if threads.batch == threads.generation
        else kernel_rates(ggml_type, threads.batch, **how)
    )
    flash, plain = attention_rates(head_dim, threads.generation, **how) if head_dim else (0.0, 0.0)
    return CpuSpeed(
        threads=threads,
        read_bytes_per_s=generation.read_bytes_per_s,
        ram_read_bytes_per_s=generation.ram_read_bytes_per_s,
        cache_bytes=last_level_cache_bytes(),
        flops=batch.flops,
        attention_flash=flash,
        attention_plain=plain,
        step_s=step_seconds(threads.generation, **how),
    )
