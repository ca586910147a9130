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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

READ_BYTES = 96 * 1024**2
"""Weights streamed per reading run: above the last-level cache of desktop CPUs (up to
~36 MiB on a Core i9; larger caches make the rate optimistic only for tiny models)."""
READ_ROWS_K = 4096
"""Columns of the streamed matrix (a 4096-wide model's row)."""
COMPUTE_K = 2048
COMPUTE_M = 1024
COMPUTE_N = 512
"""The compute run: 1024 x 2048 weights (2 MiB at 8 bits) against a 512-token batch,
llama.cpp's default micro-batch: 2.1 GFLOP."""
RUNS = 3


class ProbeError(RuntimeError):
    """The ggml libraries could not be loaded or a run failed."""


class _InitParams(ctypes.Structure):
    _fields_ = [
        ("mem_size", ctypes.c_size_t),
        ("mem_buffer", ctypes.c_void_p),
        ("no_alloc", ctypes.c_bool),
    ]


@dataclass(frozen=True)
class KernelRates:
    """What llama.cpp's CPU kernels do here for one weight type and thread count."""

    ggml_type: int
    threads: int
    read_bytes_per_s: float
    flops: float


_LIBS: tuple[Any, Any] | None = None


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
        base.ggml_new_graph.argtypes = [ctypes.c_void_p]
        base.ggml_new_graph.restype = ctypes.c_void_p
        base.ggml_build_forward_expand.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        base.ggml_set_zero.argtypes = [ctypes.c_void_p]
        base.ggml_set_zero.restype = ctypes.c_void_p
        base.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
        base.ggml_row_size.restype = ctypes.c_size_t
        base.ggml_tensor_overhead.restype = ctypes.c_size_t
        base.ggml_graph_overhead.restype = ctypes.c_size_t
        cpu.ggml_graph_compute_with_ctx.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int,
        ]
        cpu.ggml_graph_compute_with_ctx.restype = ctypes.c_int
        cpu.ggml_cpu_init.restype = None
        cpu.ggml_cpu_init()
        _LIBS = (base, cpu)
    return _LIBS


def _time_mul_mat(ggml_type: int, k: int, m: int, n: int, threads: int) -> float:
    """Seconds of the fastest of `RUNS` runs of a (k x m weights) x (k x n F32) product."""
    base, cpu = _libs()
    weight_bytes = int(base.ggml_row_size(ggml_type, k)) * m
    # Weights, activations, result, and the work buffer ggml_graph_compute_with_ctx takes
    # from the same pool (the activations converted to the weights' dot type, per thread).
    size = weight_bytes + 3 * 4 * k * n + 4 * m * n + 8 * int(base.ggml_tensor_overhead())
    size += int(base.ggml_graph_overhead()) + (threads + 4) * 1024**2
    ctx = base.ggml_init(_InitParams(size, None, False))
    if not ctx:
        raise ProbeError(f"ggml could not allocate {size:,} bytes for the probe")
    try:
        weights = base.ggml_new_tensor_2d(ctx, ggml_type, k, m)
        activations = base.ggml_new_tensor_2d(ctx, 0, k, n)  # GGML_TYPE_F32
        if not weights or not activations:
            raise ProbeError(f"ggml cannot make a {k}-wide tensor of type {ggml_type}")
        base.ggml_set_zero(weights)
        base.ggml_set_zero(activations)
        graph = base.ggml_new_graph(ctx)
        base.ggml_build_forward_expand(graph, base.ggml_mul_mat(ctx, weights, activations))
        best = float("inf")
        for _ in range(RUNS + 1):  # the first run warms the thread pool and the caches
            started = time.perf_counter()
            status = cpu.ggml_graph_compute_with_ctx(ctx, graph, threads)
            elapsed = time.perf_counter() - started
            if status != 0:
                raise ProbeError(f"ggml's graph compute failed (status {status})")
            best = min(best, elapsed)
        return max(best, 1e-9)
    finally:
        base.ggml_free(ctx)


def measure_kernels(ggml_type: int, threads: int) -> KernelRates:
    """Time llama.cpp's CPU kernels for `ggml_type` weights on `threads` threads (~0.2 s)."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    base, _ = _libs()
    row = int(base.ggml_row_size(ggml_type, READ_ROWS_K))
    rows = max(1, READ_BYTES // row)
    read_s = _time_mul_mat(ggml_type, READ_ROWS_K, rows, 1, threads)
    compute_s = _time_mul_mat(ggml_type, COMPUTE_K, COMPUTE_M, COMPUTE_N, threads)
    return KernelRates(
        ggml_type=ggml_type,
        threads=threads,
        read_bytes_per_s=row * rows / read_s,
        flops=2.0 * COMPUTE_K * COMPUTE_M * COMPUTE_N / compute_s,
    )
