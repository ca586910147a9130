"""The CPU's extra weight buffers: AMX and CPU_REPACK copies of matrix weights.

On CPUs with AMX, or with AVX2 / NEON dot products, llama.cpp copies the
weights of matrix multiplications into an interleaved layout at load time,
next to the memory-mapped file. Those copies are real memory (gigabytes on a
7B Q4_K model), so the estimate counts them. Rules from the vendored
ggml-cpu/amx and ggml-cpu/repack.cpp; the AMX buffer is tried first.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from gguf import GGML_QUANT_SIZES
from gguf import GGMLQuantizationType as T

from ..gguf.header import TensorInfo

_AMX_TYPES = {
    T.Q4_0: 32,
    T.Q4_1: 32,
    T.Q8_0: 32,
    T.Q4_K: 256,
    T.Q5_K: 256,
    T.Q6_K: 256,
    T.IQ4_XS: 256,
}  # type -> alignment of K
_AMX_EXTRA_PER_BLOCK = {T.Q8_0: 4, T.Q4_K: 4, T.Q5_K: 4, T.IQ4_XS: 2}
_TILE_N = 16


@dataclass(frozen=True)
class CpuFeatures:
    """What this CPU's llama.cpp build can use for weights: AMX tiles, repack kernels."""

    amx: bool = False
    repack_types: frozenset[int] = frozenset()

    def extra_bytes(self, tensor: TensorInfo) -> int:
        """Bytes of the tensor's copy in an AMX or CPU_REPACK buffer; 0 when it stays mapped.

        Matrices (2-D) may go to either; stacked experts (3-D, multiplied by MUL_MAT_ID)
        only to CPU_REPACK, which AMX does not run.
        """
        if len(tensor.shape) == 3 and tensor.name != "token_embd.weight":
            n = tensor.shape[1]
            return tensor.n_bytes if tensor.ggml_type in self.repack_types and n % 8 == 0 else 0
        if len(tensor.shape) != 2 or tensor.name == "token_embd.weight":
            return 0  # only matrix multiplications; token_embd is read by row lookup
        k, n = tensor.shape
        qtype = T(tensor.ggml_type)
        if (
            self.amx
            and qtype in _AMX_TYPES
            and n % (2 * _TILE_N) == 0
            and k % _AMX_TYPES[qtype] == 0
        ):
            block, type_size = GGML_QUANT_SIZES[qtype]
            n_blocks = k // block
            return n * n_blocks * (type_size + _AMX_EXTRA_PER_BLOCK.get(qtype, 0))
        if tensor.ggml_type in self.repack_types and n % 8 == 0:
            return tensor.n_bytes
        return 0


NO_EXTRA_BUFFERS = CpuFeatures()


@cache
def host_cpu_features() -> CpuFeatures:
    """This machine's features, as a natively built llama.cpp sees them."""
    machine = platform.machine().lower()
    flags = _cpu_flags()
    types: set[int] = set()
    amx = False
    if machine in ("x86_64", "amd64"):
        amx = {"amx_int8", "amx_tile", "avx512_vnni"} <= flags
        if "avx2" in flags:
            types |= {T.Q4_0, T.Q4_K, T.IQ4_NL, T.MXFP4}
        if "avx512f" in flags:
            types.add(T.Q2_K)
    elif machine in ("arm64", "aarch64") and ("asimddp" in flags or machine == "arm64"):
        types |= {T.Q4_0, T.Q4_K, T.IQ4_NL, T.MXFP4, T.Q8_0, T.Q5_K, T.Q6_K}
    return CpuFeatures(amx=amx, repack_types=frozenset(int(t) for t in types))


def extra_buffers_allowed() -> bool:
    """Whether lmdesk lets llama.cpp use its extra CPU weight layouts (AMX, repacked blocks).

    On a CPU that advertises AMX, a llama.cpp built with AMX puts the weights in
    an AMX buffer; on some virtual machines the AMX kernels then die with SIGILL
    on a worker thread (``tilezero``), taking the whole app down. lmdesk would
    rather lose the speed-up than crash: the extra layouts stay off on AMX CPUs
    unless ``LMDESK_CPU_EXTRA_BUFFERS=1`` says they work (``=0`` turns them off
    anywhere).
    """
    override = os.environ.get("LMDESK_CPU_EXTRA_BUFFERS")
    if override is not None:
        return override.strip().lower() not in ("0", "", "false", "no")
    return "amx_int8" not in _cpu_flags()


def engine_cpu_features() -> CpuFeatures:
    """The weight copies the engine's loads will make: the estimate the app shows uses this."""
    return host_cpu_features() if extra_buffers_allowed() else NO_EXTRA_BUFFERS


@cache
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[1].split())
    return frozenset(flags)
