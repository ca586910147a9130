"""How to load a model nobody has configured yet: the defaults, fitted to the GPU.

Qt-free and blocking (it reads the model's header): the main window runs
it on a worker thread when the starter model arrives.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lmdesk.core.load_settings import KV_CACHE_TYPES, LoadSettings
from lmdesk.core.settings import LoadDefaults, Settings

if TYPE_CHECKING:
    from lmdesk.core.gpus import GpuProbe, LlamaBuild

_log = logging.getLogger(__name__)


def _flash(setting: str | bool, kv_type: str) -> bool | None:
    """'auto' -> None; off with a quantized V cache (which llama.cpp refuses) -> None too."""
    flash = None if setting == "auto" else bool(setting)
    return None if flash is False and KV_CACHE_TYPES[kv_type].quantized else flash


def load_settings_from_defaults(defaults: LoadDefaults, *, n_ctx_train: int = 0) -> LoadSettings:
    """The settings' load defaults as `LoadSettings` (no GPU layers yet).

    The context is capped at what the model was trained for; a quantized V
    cache with flash attention off (which llama.cpp refuses) becomes Auto.
    """
    flash = _flash(defaults.flash_attn, defaults.kv_type)
    n_ctx = min(defaults.n_ctx, n_ctx_train) if n_ctx_train > 0 else defaults.n_ctx
    return LoadSettings(
        n_ctx=n_ctx,
        n_batch=defaults.n_batch,
        n_ubatch=min(defaults.n_ubatch, defaults.n_batch),
        type_k=defaults.kv_type,
        type_v=defaults.kv_type,
        flash_attn=flash,
        use_mmap=defaults.use_mmap,
        n_threads=defaults.n_threads,
    )


def plan_first_load(
    path: Path,
    *,
    settings: Settings,
    probe: GpuProbe | None,
    build: LlamaBuild | None,
) -> LoadSettings:
    """Load settings for `path`: remembered ones if any, else the defaults with `fit`'s layers.

    GPU layers are only planned when a GPU was found and llama.cpp can use it
    (a CUDA build); otherwise everything stays on the CPU.
    """
    from lmdesk.core.estimate import fit
    from lmdesk.core.gguf import read_model

    model = read_model(path)
    base = load_settings_from_defaults(settings.load, n_ctx_train=model.n_ctx_train)
    remembered = settings.remembered(str(path))
    if remembered is not None:
        return base.with_changes(
            n_gpu_layers=remembered.n_gpu_layers,
            n_ctx=remembered.n_ctx,
            type_k=remembered.kv_type,
            type_v=remembered.kv_type,
            flash_attn=_flash(remembered.flash_attn, remembered.kv_type),
        )
    gpus = [g for g in (probe.gpus if probe else ()) if not g.is_what_if]
    if not gpus or build is None or not build.has_cuda:
        return base
    gpu = max(gpus, key=lambda g: g.free_bytes)
    result = fit(
        model,
        base,
        gpu_free=gpu.free_bytes,
        margin=settings.gpu_safety_margin_bytes,
        gpu_name=gpu.name,
    )
    _log.info("fitted %s to %s: %d GPU layers", path.name, gpu.name, result.n_gpu_layers)
    return base.with_changes(n_gpu_layers=result.n_gpu_layers)
