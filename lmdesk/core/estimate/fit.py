"""Auto-fit: the most GPU layers that fit, and the longest context that still fits fully."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..counted import counted
from ..gguf.model import ModelInfo
from ..load_settings import LoadSettings
from .estimator import CUDA_OVERHEAD, GpuTarget, estimate
from .kv import CTX_PAD
from .plan import MemoryPlan

DEFAULT_MARGIN = 1024**3


@dataclass(frozen=True)
class FitResult:
    """The best layer count for the GPUs, the plan it gives, and the full-offload context.

    ``n_cpu_moe``: for a mixture-of-experts model, the layers whose experts stay in system
    RAM (llama.cpp's ``--n-cpu-moe``); 0 for a dense model.
    """

    n_gpu_layers: int
    n_layer: int
    plan: MemoryPlan
    max_full_offload_ctx: int  # 0 when no context allows full offload
    n_cpu_moe: int = 0

    @property
    def full_offload(self) -> bool:
        """Every layer on the GPU, experts included."""
        return self.n_gpu_layers == self.n_layer + 1 and self.plan.experts_on_cpu == 0

    @property
    def all_layers(self) -> bool:
        return self.n_gpu_layers == self.n_layer + 1

    def choice(self) -> str:
        """What Auto chose, in words: "49 of 49 layers, experts of 30 layers on the CPU"."""
        text = f"{self.n_gpu_layers} of {self.n_layer + 1} layers"
        experts = self.plan.experts_on_cpu
        if experts:
            text += f", experts of {counted(experts, 'layer')} on the CPU"
        return text


def fit(
    model: ModelInfo,
    settings: LoadSettings,
    *,
    gpu_free: int | Sequence[int],
    margin: int = DEFAULT_MARGIN,
    gpu_name: str | Sequence[str] = "GPU 0",
    overhead: int | Sequence[int] = CUDA_OVERHEAD,
    move_experts: bool = True,
) -> FitResult:
    """Most of the model whose plan leaves ``margin`` bytes of each GPU's free memory unused.

    ``gpu_free`` and ``gpu_name`` are one GPU's, or one per GPU (the layers are then split
    by free memory, unless ``settings.tensor_split`` says otherwise); ``overhead`` likewise
    (0 for a worker's device: no CUDA context in this process). A mixture-of-experts
    model is fitted in llama.cpp's order: dense weights, KV cache and the output layer on the
    GPU first, then the experts layer by layer, and only then fewer whole layers (with all
    their experts in RAM). Every total is monotonic in what it varies, so each step is a
    bisection: a handful of estimates, each well under a millisecond. ``move_experts``
    False keeps ``settings.n_cpu_moe`` as it is and fits the layers alone.
    """
    frees = [gpu_free] if isinstance(gpu_free, int) else list(gpu_free)
    names = [gpu_name] if isinstance(gpu_name, str) else list(gpu_name)
    if len(names) != len(frees):
        names = [f"GPU {i}" for i in range(len(frees))]
    overheads = [overhead] * len(frees) if isinstance(overhead, int) else list(overhead)
    gpus = [
        GpuTarget(name, weight=float(max(free, 0)), overhead=cost)
        for name, free, cost in zip(names, frees, overheads, strict=True)
    ]

    def fits(s: LoadSettings) -> bool:
        plan = estimate(model, s, gpus)
        return all(
            d.total <= free - margin  # a GPU split mode "none" leaves out holds nothing
            for d, free in zip(plan.gpus, frees, strict=True)
            if d.total
        )

    top = model.n_layer + 1
    n_cpu_moe = settings.n_cpu_moe
    moe = model.n_expert > 0 and move_experts
    if moe and fits(settings.with_changes(n_gpu_layers=top, n_cpu_moe=model.n_layer)):
        n_gpu_layers = top  # all layers; now as few experts in RAM as fit
        n_cpu_moe = _bisect(
            0, model.n_layer, lambda n: fits(settings.with_changes(n_gpu_layers=top, n_cpu_moe=n))
        )
    else:
        if moe:
            n_cpu_moe = model.n_layer  # whole layers go first; their experts stay in RAM
        base = settings.with_changes(n_cpu_moe=n_cpu_moe)
        n_gpu_layers = _bisect_most(top, lambda n: fits(base.with_changes(n_gpu_layers=n)))
    best = settings.with_changes(n_gpu_layers=n_gpu_layers, n_cpu_moe=n_cpu_moe)
    return FitResult(
        n_gpu_layers=n_gpu_layers,
        n_layer=model.n_layer,
        plan=estimate(model, best, gpus),
        max_full_offload_ctx=_longest_full_ctx(model, settings.with_changes(n_cpu_moe=0), fits),
        n_cpu_moe=n_cpu_moe,
    )


def _bisect_most(top: int, ok: Callable[[int], bool]) -> int:
    """The largest n in 0..top with ok(n), given ok(0) (nothing on the GPU) always holds."""
    lo, hi = 0, top
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _bisect(lo: int, hi: int, ok: Callable[[int], bool]) -> int:
    """The smallest n in lo..hi with ok(n), given ok(hi) holds."""
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def _longest_full_ctx(
    model: ModelInfo, settings: LoadSettings, fits: Callable[[LoadSettings], bool]
) -> int:
    full = settings.with_changes(n_gpu_layers=model.n_layer + 1)
    steps = max(model.n_ctx_train, CTX_PAD) // CTX_PAD
    if not fits(full.with_changes(n_ctx=CTX_PAD)):
        return 0
    return (
        _bisect_most(steps, lambda n: fits(full.with_changes(n_ctx=max(n, 1) * CTX_PAD))) * CTX_PAD
    )
