"""A memory plan as bar segments: which bytes each device's bar shows, in drawing order.

The GPU bar starts with what other programs hold (so the free part is what is
really left); the RAM bar's "others" is everything the OS cannot give lmdesk
(total - available). The tiny output buffer is counted with compute.
"""

from __future__ import annotations

from lmdesk.core.estimate import DevicePlan
from lmdesk.core.gpus import GpuInfo, SystemMemory


def gpu_segments(plan: DevicePlan, gpu: GpuInfo) -> dict[str, int]:
    return {
        "others": gpu.used_by_others_bytes,
        "weights": plan.weights + plan.repack,
        "kv_cache": plan.kv_cache,
        "compute": plan.compute + plan.output,
        "overhead": plan.overhead,
    }


def ram_segments(plan: DevicePlan, memory: SystemMemory) -> dict[str, int]:
    return {
        "others": max(0, memory.total_bytes - memory.available_bytes),
        "weights": plan.weights + plan.repack,
        "kv_cache": plan.kv_cache,
        "compute": plan.compute + plan.output,
    }


def gpu_title(index: int, gpu: GpuInfo) -> str:
    """A bar's title when the plan has several GPUs: "GPU 1 · GeForce RTX 4060 8 GB"."""
    return f"GPU {index} · {gpu.name.removeprefix('NVIDIA ')}"
