"""How to load a model: the settings remembered for it, else the defaults fitted to the GPU.

Qt-free. `remembered_or_fitted` is the one rule, used by My Models' Load and by
`plan_first_load` (blocking: it reads the header), which `autoload` runs on a worker
thread for the starter model and the model loaded at start (`model_to_load_at_start`
says which).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lmdesk.core.load_settings import KV_CACHE_TYPES, LoadSettings
from lmdesk.core.settings import LoadDefaults, Settings

if TYPE_CHECKING:
    from lmdesk.core.gguf import ModelInfo
    from lmdesk.core.gpus import GpuInfo, GpuProbe, LlamaBuild
    from lmdesk.core.settings import ModelLoadSettings

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


def from_remembered(saved: ModelLoadSettings, base: LoadSettings) -> LoadSettings:
    """`base` with the remembered values.

    Flash attention off with a quantized V cache (which llama.cpp refuses) becomes
    Auto, as for the defaults; any other impossible combination keeps `base`'s.
    """
    flash = _flash(saved.flash_attn, saved.kv_type)
    try:
        return base.with_changes(
            n_gpu_layers=saved.n_gpu_layers,
            n_ctx=saved.n_ctx,
            type_k=saved.kv_type,
            type_v=saved.kv_type,
            flash_attn=flash,
        )
    except ValueError:
        return base


def remembered_or_fitted(
    model: ModelInfo, path: Path, settings: Settings, *, gpu: GpuInfo | None, margin: int
) -> LoadSettings:
    """Load settings for `path`: remembered ones if any, else the defaults with `fit`'s layers.

    ``gpu`` is the card to fit to; None keeps every layer on the CPU.
    """
    from lmdesk.core.estimate import fit

    base = load_settings_from_defaults(settings.load, n_ctx_train=model.n_ctx_train)
    remembered = settings.remembered(str(path))
    if remembered is not None:
        return from_remembered(remembered, base)
    if gpu is None:
        return base
    result = fit(model, base, gpu_free=gpu.free_bytes, margin=margin, gpu_name=gpu.name)
    _log.info("fitted %s to %s: %d GPU layers", path.name, gpu.name, result.n_gpu_layers)
    return base.with_changes(n_gpu_layers=result.n_gpu_layers)


def model_to_load_at_start(last: str | None, models_dir: Path) -> str | None:
    """The model the app loads when it starts: the one used last, else the starter model.

    None when neither file is there (moved, deleted, never fetched).
    """
    from lmdesk.core.starter import starter_path

    candidates = [last] if last else []
    candidates.append(str(starter_path(models_dir)))
    return next((c for c in candidates if Path(c).is_file()), None)


def plan_first_load(
    path: Path,
    *,
    settings: Settings,
    probe: GpuProbe | None,
    build: LlamaBuild | None,
) -> LoadSettings:
    """Load settings for a model nobody chose a GPU for: the real GPU with most free memory.

    GPU layers are only planned when a GPU was found and llama.cpp can use it
    (a CUDA build); otherwise everything stays on the CPU.
    """
    from lmdesk.core.gguf import read_model

    gpus = [g for g in (probe.gpus if probe else ()) if not g.is_what_if]
    usable = bool(gpus) and build is not None and build.has_cuda
    gpu = max(gpus, key=lambda g: g.free_bytes) if usable else None
    return remembered_or_fitted(
        read_model(path), path, settings, gpu=gpu, margin=settings.gpu_safety_margin_bytes
    )
