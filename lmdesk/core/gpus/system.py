"""System RAM: where the layers that do not fit on the GPU go."""

from __future__ import annotations

from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class SystemMemory:
    """Total RAM, and what the OS can give a new model without swapping."""

    total_bytes: int
    available_bytes: int


def system_memory() -> SystemMemory:
    """RAM now, via psutil (`available` counts reclaimable caches, as the OS does)."""
    memory = psutil.virtual_memory()
    return SystemMemory(total_bytes=int(memory.total), available_bytes=int(memory.available))
