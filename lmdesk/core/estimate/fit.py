"""Auto-fit: the most GPU layers that fit, and the longest context that still fits fully."""

from __future__ import annotations

from dataclasses import dataclass

from ..gguf.model import ModelInfo
from ..load_settings import LoadSettings
from .estimator import CUDA_OVERHEAD, GpuTarget, estimate
from .kv import CTX_PAD
from .plan import MemoryPlan

DEFAULT_MARGIN = 1024**3


@dataclass(frozen=True)
class FitResult:
    """The best layer count for one GPU, the plan it gives, and the full-offload context."""

    n_gpu_layers: int
    n_layer: int
    plan: MemoryPlan
    max_full_offload_ctx: int  # 0 when no context allows full offload

    @property
    def full_offload(self) -> bool:
        return self.n_gpu_layers == self.n_layer + 1


def fit(
    model: ModelInfo,
    settings: LoadSettings,
    *,
    gpu_free: int,
    margin: int = DEFAULT_MARGIN,
    gpu_name: str = "GPU 0",
    overhead: int = CUDA_OVERHEAD,
) -> FitResult:
    """Most layers whose plan leaves ``margin`` bytes of ``gpu_free`` unused.

    The GPU's total is monotonic in the layer count and the context, so both are
    found by bisection: a handful of estimates, each well under a millisecond.
    """
    gpu = GpuTarget(gpu_name, overhead=overhead)
    budget = gpu_free - margin

    def gpu_bytes(s: LoadSettings) -> int:
        return estimate(model, s, [gpu]).gpu_total

    lo, hi = 0, model.n_layer + 1  # lo always fits (0 layers = nothing on the GPU)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if gpu_bytes(settings.with_changes(n_gpu_layers=mid)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    best = settings.with_changes(n_gpu_layers=lo)
    return FitResult(
        n_gpu_layers=lo,
        n_layer=model.n_layer,
        plan=estimate(model, best, [gpu]),
        max_full_offload_ctx=_longest_full_ctx(model, settings, budget, gpu_bytes),
    )


def _longest_full_ctx(model: ModelInfo, settings: LoadSettings, budget: int, gpu_bytes) -> int:  # type: ignore[no-untyped-def]
    full = settings.with_changes(n_gpu_layers=model.n_layer + 1)
    steps = max(model.n_ctx_train, CTX_PAD) // CTX_PAD
    lo, hi = 0, steps
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if gpu_bytes(full.with_changes(n_ctx=mid * CTX_PAD)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo * CTX_PAD
