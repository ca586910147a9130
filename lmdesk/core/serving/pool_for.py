"""The one way a model pool is made from the settings: for `lmdesk serve` and for the app.

Models are the library's (My Models), loaded by the one load rule (`core.load_plan`), kept
together while the estimator says they fit beside each other with the safety margin.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..gpus import GpuProbe, LlamaBuild
from ..load_plan import best_gpu, plan_load
from ..load_settings import LoadSettings
from ..settings import Settings
from .catalog import scan_catalog
from .fit_together import memory_plan, system_fits
from .pool import DEFAULT_TTL_S, ModelPool
from .scheduler import DEFAULT_MAX_QUEUE


def pool_for(
    settings: Callable[[], Settings],
    *,
    probe: GpuProbe,
    build: LlamaBuild | None,
    extra: dict[str, Path] | None = None,
    adjust: Callable[[LoadSettings], LoadSettings] | None = None,
    default_ttl_s: float | None = DEFAULT_TTL_S,
    max_queue: int = DEFAULT_MAX_QUEUE,
) -> ModelPool:
    """A pool over My Models as ``settings()`` describes them now (the app's settings change).

    ``extra`` adds models by id (a file named on the command line); ``adjust`` lays options
    over the rule's settings (``--ctx``, ``--gpu-layers``).
    """
    gpu = best_gpu(probe.gpus, build)
    more = dict(extra or {})

    def settings_for(path: Path) -> LoadSettings:
        load = plan_load(path, settings=settings(), probe=probe, build=build)
        return adjust(load) if adjust is not None else load

    return ModelPool(
        catalog=lambda: {**scan_catalog(settings()), **more},
        settings_for=settings_for,
        fits=system_fits(gpu, lambda: settings().gpu_safety_margin_bytes),
        plan_for=lambda path, load: memory_plan(path, load, gpu),
        default_ttl_s=default_ttl_s,
        max_queue=max_queue,
    )
