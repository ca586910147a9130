"""The memory plan for a model under given load settings, per device.

Pure arithmetic over a parsed header: well under a millisecond, so the offload
slider can recompute it on every tick.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from ..gguf.model import ModelInfo
from ..load_settings import LoadSettings
from .architectures import approximate_for
from .compute import graph_peaks
from .cpu_buffers import CpuFeatures, engine_cpu_features
from .kv import kv_bytes_per_layer
from .placement import layer_devices
from .plan import CPU, DevicePlan, MemoryPlan
from .row_split import ROW_REFUSED, split_layers
from .weights import INPUT, WeightsIndex, layer_weights, mapped_bytes

CUDA_OVERHEAD = 320 * 1024**2  # CUDA context + cuBLAS workspace, per GPU
GPU_ALIGNMENT = 256
CPU_ALIGNMENT = 32


class EstimateError(ValueError):
    """Settings llama.cpp would refuse; ``str()`` says which and why."""


@dataclass(frozen=True)
class GpuTarget:
    """A GPU the plan may use: a name and the share of layers it takes (its free memory)."""

    name: str
    weight: float = 1.0
    overhead: int = CUDA_OVERHEAD
    row_split: bool = False
    """Its backend has split buffers (split mode "row"): SYCL does; CUDA and RPC in this
    llama.cpp do not (`row_split.ROW_REFUSED`)."""


_INDEX: WeakKeyDictionary[ModelInfo, dict[CpuFeatures, WeightsIndex]] = WeakKeyDictionary()


def _weights_index(model: ModelInfo, cpu: CpuFeatures) -> WeightsIndex:
    per_model = _INDEX.setdefault(model, {})
    if cpu not in per_model:
        per_model[cpu] = layer_weights(model, cpu, GPU_ALIGNMENT, CPU_ALIGNMENT)
    return per_model[cpu]


def estimate(
    model: ModelInfo,
    settings: LoadSettings,
    gpus: Sequence[GpuTarget] = (),
    *,
    cpu: CpuFeatures | None = None,
) -> MemoryPlan:
    """Plan the memory of loading ``model`` with ``settings`` over the CPU and ``gpus``.

    ``cpu`` says which weight copies the CPU makes (AMX, repack); None means what this
    host's engine will do (`engine_cpu_features`).
    """
    n_layer = model.n_layer
    n_gpu_layers = settings.gpu_layers_for(n_layer)
    if settings.n_gpu_layers > n_layer + 1:
        raise EstimateError(
            f"this model has {n_layer} layers plus the output layer: "
            f"at most {n_layer + 1} GPU layers, not {settings.n_gpu_layers}"
        )
    split = list(settings.tensor_split or [g.weight for g in gpus]) if gpus else []
    if gpus and len(split) != len(gpus):
        raise EstimateError(f"the tensor split names {len(split)} GPUs, {len(gpus)} are given")
    check_main_gpu(settings.main_gpu, len(gpus))
    used = [True] * len(gpus)
    if settings.split_mode == "none" and gpus:  # llama.cpp keeps the main GPU alone
        used = [i == settings.main_gpu for i in range(len(gpus))]
        where = layer_devices(n_layer, n_gpu_layers, [float(u) for u in used])
    else:
        where = layer_devices(n_layer, n_gpu_layers, split)
    by_row = settings.split_mode == "row" and bool(gpus)
    row_parts = split_layers(model, split, GPU_ALIGNMENT) if by_row else {}
    index = _weights_index(model, engine_cpu_features() if cpu is None else cpu)
    layers, experts = index.layers, index.experts
    n_cpu_moe = min(settings.n_cpu_moe, n_layer)

    cpu_layers = [layers[INPUT]] if INPUT in layers else []
    gpu_weights = [0] * len(gpus)
    moved = []  # experts of GPU layers kept in RAM: the CPU runs them
    for layer, device in enumerate(where):
        parts = [layers[layer]] if layer in layers else []
        if layer in experts:
            if layer < n_cpu_moe:  # overridden to the CPU buffer type, whatever the device
                cpu_layers.append(index.overridden[layer])
                if device >= 0:
                    moved.append(index.overridden[layer])
            else:
                parts.append(experts[layer])
        for part in parts:
            if device >= 0:
                gpu_weights[device] += part.gpu
            else:
                cpu_layers.append(part)
        if device >= 0 and layer in row_parts:  # its matrices cut by rows over every GPU
            shares, whole = row_parts[layer]
            gpu_weights[device] -= whole
            for i, share in enumerate(shares):
                gpu_weights[i] += share
    if settings.use_mmap:
        cpu_weights = mapped_bytes(cpu_layers)
    else:
        cpu_weights = sum(layer.cpu for layer in cpu_layers)

    cpu_kv, gpu_kv = 0, [0] * len(gpus)
    for il, kv in enumerate(kv_bytes_per_layer(model, settings)):
        if where[il] >= 0 and settings.offload_kqv:
            gpu_kv[where[il]] += kv
        else:
            cpu_kv += kv

    peaks = graph_peaks(model, settings, len(gpus))
    any_gpu = any(d >= 0 for d in where)
    if not any_gpu:
        cpu_compute = peaks.cpu_only
    elif all(d >= 0 for d in where):
        cpu_compute = peaks.cpu_with_full_offload
    else:  # the CPU's own layers: with experts, their whole MoE block runs there too
        cpu_compute = max(peaks.cpu_with_partial_offload, peaks.experts_with_router)
    if moved:
        cpu_compute = max(cpu_compute, peaks.experts)
    cpu_plan = DevicePlan(
        name=CPU,
        weights=cpu_weights,
        repack=sum(layer.repack for layer in cpu_layers),
        kv_cache=cpu_kv,
        compute=cpu_compute,
        output=model.n_vocab * 4,  # logits of one sequence, f32, in host memory
        layers=tuple(il for il, d in enumerate(where) if d < 0),
    )

    def gpu_compute(device: int) -> int:
        if any(d == device for d in where[:n_layer]):
            if where[n_layer] != device:  # the output layer (the logits) is on another
                return peaks.gpu_blocks_only
            return peaks.gpu  # runs repeating blocks: attention included
        return peaks.gpu_output_only if where[n_layer] == device else 0

    gpu_plans = tuple(
        DevicePlan(
            name=gpu.name,
            weights=gpu_weights[i],
            kv_cache=gpu_kv[i],
            compute=gpu_compute(i),
            overhead=gpu.overhead if used[i] else 0,
            layers=tuple(il for il, d in enumerate(where) if d == i),
        )
        for i, gpu in enumerate(gpus)
    )
    refused = ROW_REFUSED if by_row and not all(g.row_split for g in gpus) else ""
    return MemoryPlan(
        settings=settings,
        n_layer=n_layer,
        devices=(cpu_plan, *gpu_plans),
        experts_on_cpu=len(moved),
        expert_bytes_on_cpu=sum(part.cpu + part.repack for part in moved),
        approximate=approximate_for(model),
        refused=refused,
    )


def check_main_gpu(main_gpu: int, n_gpus: int) -> None:
    """A main GPU must be one of the GPUs planned for (0 is the first, or none at all)."""
    if main_gpu and main_gpu >= n_gpus:
        have = "there is no GPU" if not n_gpus else f"the GPUs are 0 to {n_gpus - 1}"
        if n_gpus == 1:
            have = "there is one GPU, GPU 0"
        raise EstimateError(f"there is no GPU {main_gpu} to be the main GPU: {have}")
