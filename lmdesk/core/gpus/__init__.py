"""GPUs and system memory: what lmdesk can place a model on.

Real NVIDIA GPUs come from NVML (`probe_gpus`, polled by `GpuMonitor`);
what-if cards (`WHAT_IF_CARDS`, pairs `WHAT_IF_PAIRS`, `custom_card`) let people plan for a card
they do not have. `llama_build_info` tells whether llama.cpp can use them.
"""

from lmdesk.core.gpus.cards import (
    WHAT_IF_CARDS,
    WHAT_IF_PAIRS,
    WHAT_IF_RESERVED_BYTES,
    GpuInfo,
    WhatIfGroup,
    custom_card,
    find_what_if,
    find_what_if_group,
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
    "WHAT_IF_PAIRS",
    "WHAT_IF_RESERVED_BYTES",
    "GpuInfo",
    "GpuMonitor",
    "GpuProbe",
    "LlamaBuild",
    "SystemMemory",
    "WhatIfGroup",
    "cuda_install_command",
    "cuda_install_hint",
    "custom_card",
    "find_what_if",
    "find_what_if_group",
    "llama_build_info",
    "probe_gpus",
    "system_memory",
]
