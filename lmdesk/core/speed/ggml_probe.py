"""llama.cpp's own CPU kernels, timed: the CPU's side of the speed model.

A CPU's rate for llama.cpp is not its datasheet's: the quantized dot products
decide it as much as the memory does. So the probe runs ggml's matrix-vector
and matrix-matrix products (the same ``ggml_mul_mat`` llama.cpp's graphs use)
in the model's weight type, through ctypes on the ggml libraries that
llama-cpp-python ships, with the thread counts of `core.cpu_threads`:

- reading: one F32 column against a weight matrix larger than the caches
  (what generating one token does): bytes of weights per second;
- compute: a batch of 512 columns against a matrix that stays in cache
  (what prompt processing does): FLOP per second (2 per multiply-add).

The weights are zeros written once (memset), so every page is real memory;
the kernels' speed does not depend on the values. Each measurement keeps the
fastest of a few runs (the one least disturbed by other processes).
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

READ_BYTES = 96 * 1024**2
"""Weights streamed per reading run: above the last-level cache of desktop CPUs (up to
~36 MiB on a Core i9; larger caches make the rate optimistic only for tiny models)."""
MAX_RAM_READ_BYTES = 1024**3
"""The most streamed to measure RAM's rate past a large cache (1.25 x the cache, up to this)."""
READ_ROWS_K = 4096
"""Columns of the streamed matrix (a 4096-wide model's row)."""
COMPUTE_K = 2048
COMPUTE_M = 1024
COMPUTE_N = 512
"""The compute run: 1024 x 2048 weights (2 MiB at 8 bits) against a 512-token batch,
llama.cpp's default micro-batch: 2.1 GFLOP."""
RUNS = 3
MIN_PROBE_S = 0.04
MAX_RUNS = 40
MAX_PROBE_S = 0.25
"""Each measurement's time limit once it has one timed run: where others keep the cores
busy, 2-thread runs crawl (the threads spin-wait for a descheduled one) and the whole
probe must still end in about a second."""
ATTENTION_HEADS = 32
ATTENTION_KV_HEADS = 8
ATTENTION_CELLS = 448
"""The attention run: one token's 32 query heads (grouped 4 to a KV head, as Llama 3 8B) over
448 cached cells: below llama.cpp's 512-cell split of the cache between threads, so the
heads are shared out evenly (32 rows in 4 x threads chunks) and the rate is per-thread
work, before the imbalance `predict` works out from llama.cpp's own partition."""
WORK_SLACK = 1024**2
"""Bytes of work buffer beyond what ggml_graph_plan asks for (ggml's kernels index it per
thread; a kernel that counts differently from its plan must not write past it)."""
GRAPH_SIZE = 4096
"""Nodes a probe graph may hold (ggml's default is 2048)."""
STEP_NODES = 200
"""Nodes in the per-node cost run (a 30-layer model's graph has some 600): 0.1 ms on 2 free
cores, but a 2-thread run beside a busy process waits a scheduler tick at every node."""
F32 = 0
F16 = 1
"""GGML_TYPE_F32 and GGML_TYPE_F16 (ggml.h)."""


class ProbeError(RuntimeError):
    """The ggml libraries could not be loaded or a run failed."""


class _InitParams(ctypes.Structure):
    _fields_ = [
        ("mem_size", ctypes.c_size_t),
        ("mem_buffer", ctypes.c_void_p),
        ("no_alloc", ctypes.c_bool),
    ]


class _ComputePlan(ctypes.Structure):
    """ggml-cpu.h's struct ggml_cplan."""

    _fields_ = [
        ("work_size", ctypes.c_size_t),
        ("work_data", ctypes.c_void_p),
        ("n_threads", ctypes.c_int),
        ("threadpool", ctypes.c_void_p),
        ("abort_callback", ctypes.c_void_p),
        ("abort_callback_data", ctypes.c_void_p),
        ("use_ref", ctypes.c_bool),
    ]


@dataclass(frozen=True)
class KernelRates:
    """What llama.cpp's CPU kernels do here for one weight type and thread count."""

    ggml_type: int
    threads: int
    read_bytes_per_s: float
    flops: float
    ram_read_bytes_per_s: float = 0.0
    """Reading weights that do not fit the last-level cache (`last_level_cache_bytes`): the
    same as ``read_bytes_per_s`` where `READ_BYTES` already overflows it; 0: not measured."""


def last_level_cache_bytes() -> int:
    """The CPU's largest cache in bytes, from Linux's sysfs; 0 where it cannot be read.

    Server and X3D CPUs (and cloud machines that show their host's cache: 480 MiB here) hold
    more than `READ_BYTES`, so a model that fits reads at the cache's rate and a larger one
    at RAM's: the probe measures both there."""
    largest = 0
    folder = Path("/sys/devices/system/cpu/cpu0/cache")
    try:
        for index in folder.glob("index*"):
            text = (index / "size").read_text(encoding="ascii").strip()
            scale = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:].upper(), 1)
            largest = max(largest, int(text.rstrip("KMGkmg")) * scale)
    except (OSError, ValueError):
        return 0
    return largest


_LIBS: tuple[Any, Any] | None = None
_STATE = threading.local()


def reset_disturbed() -> None:
    """Start watching this thread's measurements for a crawling run (see `disturbed`)."""
    _STATE.disturbed = False


def disturbed() -> bool:
    """Whether a measurement on this thread since `reset_disturbed` crawled: others held the
    cores, so its figure is the moment's, not the machine's (do not keep it)."""
    return bool(getattr(_STATE, "disturbed", False))


def _libs() -> tuple[Any, Any]:
    global _LIBS
    if _LIBS is None:
        try:
            import llama_cpp
        except ImportError as exc:  # pragma: no cover - a dependency of lmdesk
            raise ProbeError(f"llama-cpp-python is not installed: {exc}") from exc
        folder = Path(llama_cpp.__file__).parent / "lib"
        try:
            base = ctypes.CDLL(str(folder / "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
            cpu = ctypes.CDLL(str(folder / "libggml-cpu.so"), mode=ctypes.RTLD_GLOBAL)
        except OSError as exc:
            raise ProbeError(f"cannot load ggml from {folder}: {exc}") from exc
        base.ggml_init.argtypes = [_InitParams]
        base.ggml_init.restype = ctypes.c_void_p
        base.ggml_free.argtypes = [ctypes.c_void_p]
        base.ggml_new_tensor_2d.argtypes = [
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int64,
            ctypes.c_int64,
        ]
        base.ggml_new_tensor_2d.restype = ctypes.c_void_p
        base.ggml_mul_mat.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        base.ggml_mul_mat.restype = ctypes.c_void_p
        base.ggml_new_tensor_3d.argtypes = [
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_int64,
        ]
        base.ggml_new_tensor_3d.restype = ctypes.c_void_p
        pointers: list[Any] = [ctypes.c_void_p] * 5  # ctx, q, k, v, mask
        base.ggml_flash_attn_ext.argtypes = pointers + [ctypes.c_float] * 3
        base.ggml_flash_attn_ext.restype = ctypes.c_void_p
        base.ggml_soft_max_ext.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_float,
            ctypes.c_float,
        ]
        base.ggml_soft_max_ext.restype = ctypes.c_void_p
        base.ggml_new_tensor_1d.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64]
        base.ggml_new_tensor_1d.restype = ctypes.c_void_p
        base.ggml_add.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        base.ggml_add.restype = ctypes.c_void_p
        base.ggml_new_graph_custom.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_bool]
        base.ggml_new_graph_custom.restype = ctypes.c_void_p
        base.ggml_graph_overhead_custom.argtypes = [ctypes.c_size_t, ctypes.c_bool]
        base.ggml_graph_overhead_custom.restype = ctypes.c_size_t
        base.ggml_new_buffer.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        base.ggml_new_buffer.restype = ctypes.c_void_p
        base.ggml_new_graph.argtypes = [ctypes.c_void_p]
        base.ggml_new_graph.restype = ctypes.c_void_p
        base.ggml_build_forward_expand.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        base.ggml_set_zero.argtypes = [ctypes.c_void_p]
        base.ggml_set_zero.restype = ctypes.c_void_p
        base.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
        base.ggml_row_size.restype = ctypes.c_size_t
        base.ggml_tensor_overhead.restype = ctypes.c_size_t
        base.ggml_graph_overhead.restype = ctypes.c_size_t
        cpu.ggml_graph_plan.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        cpu.ggml_graph_plan.restype = _ComputePlan
        cpu.ggml_graph_compute.argtypes = [ctypes.c_void_p, ctypes.POINTER(_ComputePlan)]
        cpu.ggml_graph_compute.restype = ctypes.c_int
        cpu.ggml_cpu_init.restype = None
        cpu.ggml_cpu_init()
        _LIBS = (base, cpu)
    return _LIBS


def _time_graph(
    size: int, build: Callable[[Any, Any], Any], threads: int, *, limit_s: float = MAX_PROBE_S
) -> float:
    """Seconds of the fastest of `RUNS` runs of the graph `build(base, ctx)` returns the
    output of, in a ggml context of `size` bytes (plus the work buffer and overheads);
    runs stop repeating after `limit_s` (0: the warm-up and one timed run)."""
    base, cpu = _libs()
    size += 16 * int(base.ggml_tensor_overhead()) + int(
        base.ggml_graph_overhead_custom(GRAPH_SIZE, False)
    )
    ctx = base.ggml_init(_InitParams(size, None, False))
    if not ctx:
        raise ProbeError(f"ggml could not allocate {size:,} bytes for the probe")
    work_ctx = None
    try:
        graph = base.ggml_new_graph_custom(ctx, GRAPH_SIZE, False)
        base.ggml_build_forward_expand(graph, build(base, ctx))
        plan = cpu.ggml_graph_plan(graph, threads, None)
        # One work buffer for every run, in ggml's own (aligned) memory, with room to spare
        # past what the plan asks: an overrun must never reach Python's objects.
        work_size = int(plan.work_size) + WORK_SLACK
        work_ctx = base.ggml_init(_InitParams(work_size + WORK_SLACK, None, False))
        if not work_ctx:
            raise ProbeError(f"ggml could not allocate {work_size:,} bytes for the probe")
        plan.work_data = base.ggml_new_buffer(work_ctx, work_size)
        best, runs, first = float("inf"), 0, time.perf_counter()
        # The first run warms the thread pool and the caches; then at least RUNS, and short
        # runs repeat for MIN_PROBE_S: one descheduled thread stalls a whole run, and the
        # fastest of many is what the machine does when left alone.
        # A machine so busy that runs crawl stops after MAX_PROBE_S with what it has.
        while runs < 2 or (
            (runs <= RUNS and time.perf_counter() - first < limit_s)
            or (time.perf_counter() - first < MIN_PROBE_S and runs < MAX_RUNS)
        ):
            started = time.perf_counter()
            status = cpu.ggml_graph_compute(graph, ctypes.byref(plan))
            elapsed = time.perf_counter() - started
            if status != 0:
                raise ProbeError(f"ggml's graph compute failed (status {status})")
            if not runs and limit_s and elapsed > MAX_PROBE_S:  # (a RAM run's warm-up is long)
                _STATE.disturbed = True
                return elapsed  # even the warm-up crawled: that is the machine right now
            best = min(best, elapsed) if runs else best
            runs += 1
        return max(best, 1e-9)
    finally:
        if work_ctx:
            base.ggml_free(work_ctx)
        base.ggml_free(ctx)


def _zeros(base: Any, tensor: Any, what: str) -> Any:
    if not tensor:
        raise ProbeError(f"ggml cannot make the probe's {what}")
    base.ggml_set_zero(tensor)
    return tensor


def _time_mul_mat(
    ggml_type: int, k: int, m: int, n: int, threads: int, *, limit_s: float = MAX_PROBE_S
) -> float:
    """Seconds of the fastest of `RUNS` runs of a (k x m weights) x (k x n F32) product."""
    base, _ = _libs()
    weight_bytes = int(base.ggml_row_size(ggml_type, k)) * m
    # Weights, activations, result, and the activations converted to the weights' dot type.
    size = weight_bytes + 3 * 4 * k * n + 4 * m * n

    def build(base: Any, ctx: Any) -> Any:
        weights = _zeros(base, base.ggml_new_tensor_2d(ctx, ggml_type, k, m), "weights")
        activations = _zeros(base, base.ggml_new_tensor_2d(ctx, F32, k, n), "activations")
        return base.ggml_mul_mat(ctx, weights, activations)

    return _time_graph(size, build, threads, limit_s=limit_s)


def measure_attention(head_dim: int, threads: int, *, flash: bool) -> float:
    """Query-head x cached-cell pairs per second that one generated token's attention runs at
    (F16 cache, llama.cpp's default), with llama.cpp's graph: ``ggml_flash_attn_ext`` when
    flash attention is on, else K x Q, softmax, V x KQ (~10 ms)."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    heads, kv_heads, cells = ATTENTION_HEADS, ATTENTION_KV_HEADS, ATTENTION_CELLS
    size = 2 * 2 * head_dim * cells * kv_heads + 4 * 4 * heads * max(head_dim, cells)

    def build(base: Any, ctx: Any) -> Any:
        query = _zeros(base, base.ggml_new_tensor_3d(ctx, F32, head_dim, 1, heads), "query")
        if flash:
            k = base.ggml_new_tensor_3d(ctx, F16, head_dim, cells, kv_heads)
            v = base.ggml_new_tensor_3d(ctx, F16, head_dim, cells, kv_heads)
            keys, values = _zeros(base, k, "keys"), _zeros(base, v, "values")
            return base.ggml_flash_attn_ext(ctx, query, keys, values, None, 0.125, 0.0, 0.0)
        k = base.ggml_new_tensor_3d(ctx, F16, head_dim, cells, kv_heads)
        v = base.ggml_new_tensor_3d(ctx, F16, cells, head_dim, kv_heads)  # V kept transposed
        keys, values = _zeros(base, k, "keys"), _zeros(base, v, "values")
        scores = base.ggml_soft_max_ext(ctx, base.ggml_mul_mat(ctx, keys, query), None, 0.125, 0.0)
        return base.ggml_mul_mat(ctx, values, scores)

    seconds = _time_graph(size, build, threads)
    return heads * cells / seconds


def measure_step(threads: int) -> float:
    """Seconds per graph node that does almost nothing: what llama.cpp's CPU backend pays per
    node besides its arithmetic (the threads meeting at a barrier after every node, the
    dispatch): a chain of `STEP_NODES` additions of tiny vectors, less a chain of one (the
    threads' start, which llama.cpp's kept thread pool does not pay per token); ~50 ms."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    width = 64

    def chain(nodes: int) -> float:
        def build(base: Any, ctx: Any) -> Any:
            node = _zeros(base, base.ggml_new_tensor_1d(ctx, F32, width), "vector")
            one = _zeros(base, base.ggml_new_tensor_1d(ctx, F32, width), "vector")
            for _ in range(nodes):
                node = base.ggml_add(ctx, node, one)
            return node

        size = (nodes + 2) * (4 * width + int(_libs()[0].ggml_tensor_overhead()))
        return _time_graph(size, build, threads)

    return max(0.0, chain(STEP_NODES) - chain(1)) / (STEP_NODES - 1)


def measure_kernels(ggml_type: int, threads: int) -> KernelRates:
    """Time llama.cpp's CPU kernels for `ggml_type` weights on `threads` threads (~0.2 s)."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    base, _ = _libs()
    row = int(base.ggml_row_size(ggml_type, READ_ROWS_K))
    rows = max(1, READ_BYTES // row)
    read = row * rows / _time_mul_mat(ggml_type, READ_ROWS_K, rows, 1, threads)
    ram = read
    cache = last_level_cache_bytes()
    if cache * 5 // 4 > READ_BYTES:  # the streamed weights sat in the cache: stream past it
        ram_rows = min(cache * 5 // 4, MAX_RAM_READ_BYTES) // row
        # One timed run: hundreds of MB read from RAM vary little, and the probe stays short.
        ram_s = _time_mul_mat(ggml_type, READ_ROWS_K, ram_rows, 1, threads, limit_s=0.0)
        ram = row * ram_rows / ram_s
    compute_s = _time_mul_mat(ggml_type, COMPUTE_K, COMPUTE_M, COMPUTE_N, threads)
    return KernelRates(
        ggml_type=ggml_type,
        threads=threads,
        read_bytes_per_s=read,
        flops=2.0 * COMPUTE_K * COMPUTE_M * COMPUTE_N / compute_s,
        ram_read_bytes_per_s=min(ram, read),
    )
