"""Whether one more model fits beside those loaded: the estimator's plans, the safety margin.

GPU memory: the plans of every loaded model plus the new one must fit the card's usable
memory less the margin. RAM: the new model's CPU share must fit what the system has
available now (the loaded models' memory is already taken out of that) less the margin.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..estimate import GpuTarget, MemoryPlan
from ..estimate.projector import plan_with_projector, projector_or_none
from ..gguf import read_model
from ..gpus import GpuInfo, system_memory
from ..load_settings import LoadSettings

Fits = Callable[[Sequence[MemoryPlan], MemoryPlan], bool]
"""(plans of the loaded models, plan of the new one) -> can the new one be loaded too?"""


def memory_plan(path: Path, settings: LoadSettings, gpu: GpuInfo | None) -> MemoryPlan:
    """What loading ``path`` with ``settings`` takes, on the CPU and ``gpu``, with the vision
    projector ``settings.mmproj`` names (blocking)."""
    gpus = [GpuTarget(gpu.name)] if gpu is not None else []
    return plan_with_projector(read_model(path), settings, gpus, projector_or_none(settings.mmproj))


def fits_beside(
    loaded: Sequence[MemoryPlan],
    new: MemoryPlan,
    *,
    ram_available: int,
    gpu_usable: int,
    margin: int,
) -> bool:
    """The rule in the module's words."""
    gpu_need = sum(plan.gpu_total for plan in (*loaded, new))
    if gpu_need > 0 and gpu_need > gpu_usable - margin:
        return False
    return new.cpu.total <= ram_available - margin


def system_fits(gpu: GpuInfo | None, margin: Callable[[], int]) -> Fits:
    """`fits_beside` with this computer's available RAM and the safety ``margin()``, both read
    at each call (a margin changed in Settings counts at once), and ``gpu``."""

    def fits(loaded: Sequence[MemoryPlan], new: MemoryPlan) -> bool:
        return fits_beside(
            loaded,
            new,
            ram_available=system_memory().available_bytes,
            gpu_usable=gpu.usable_bytes if gpu is not None else 0,
            margin=margin(),
        )

    return fits
