"""GPUs and system memory: what lmdesk can place a model on.

Real NVIDIA GPUs come from NVML (`probe_gpus`, polled by `GpuMonitor`);
what-if cards (`WHAT_IF_CARDS`, `custom_card`) let people plan for a card
they do not have. `llama_build_info` tells whether llama.cpp can use them.
"""

from lmdesk.core.gpus.cards import (
    WHAT_IF_CARDS,
    WHAT_IF_RESERVED_BYTES,
    GpuInfo,
    custom_card,
    find_what_if,
)
from lmdesk.core.gpus.llama_build import (
    LlamaBuild,
    cuda_install_command,
    cuda_install_hint,
    llama_build_info,
)
from lmdesk.core.gpus.monitor import GpuMonitor
from lmdesk.core.gpus.nvml import NO_DRIVER, NO_GPU, GpuProbe, probe_gpus
from lmdesk.core.gpus.system import SystemMemory, system_memory

__all__ = [
    "NO_DRIVER",
    "NO_GPU",
    "WHAT_IF_CARDS",
    "WHAT_IF_RESERVED_BYTES",
    "GpuInfo",
    "GpuMonitor",
    "GpuProbe",
    "LlamaBuild",
    "SystemMemory",
    "cuda_install_command",
    "cuda_install_hint",
    "custom_card",
    "find_what_if",
    "llama_build_info",
    "probe_gpus",
    "system_memory",
]
