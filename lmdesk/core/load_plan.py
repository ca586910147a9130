"""How a model is loaded when nobody chose: the one rule for the app, the CLI and the server.

`settings_for` is that rule: the settings remembered for the file, else the user's load
defaults (the context capped at what the model was trained for) with as many GPU layers
as `fit` finds for the card. The Load panel, My Models, the model loaded at start, the
chat's model picker and `lmdesk estimate/fit` all call it, so the same model with the same
defaults is loaded the same way whichever door it comes in by. A vision projector beside the
model (`core.gguf.projector`) is loaded with it (``LoadSettings.mmproj``), and its memory is
counted when the layers are fitted to the card.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from lmdesk.core.load_settings import KV_CACHE_TYPES, LoadSettings
from lmdesk.core.settings import LoadDefaults, ModelLoadSettings, Settings
from lmdesk.core.settings.schema import KvType, SplitMode

if TYPE_CHECKING:
    from lmdesk.core.gguf import ModelInfo
    from lmdesk.core.gpus import GpuInfo, GpuProbe, LlamaBuild
    from lmdesk.core.remote_engines import RemoteServer

_log = logging.getLogger(__name__)

WORKERS_TARGET = "workers"
"""The remembered target (`ModelLoadSettings.gpu`) that means "this machine and the remote
workers" (the Load panel's "This machine + N workers"): the load then names every worker in
the settings' `rpc_workers`."""


def _flash(setting: str | bool, kv_type: str) -> bool | None:
    """'auto' -> None; off with a quantized V cache (which llama.cpp refuses) -> None too."""
    flash = None if setting == "auto" else bool(setting)
    return None if flash is False and KV_CACHE_TYPES[kv_type].quantized else flash


def default_load_settings(defaults: LoadDefaults, *, n_ctx_train: int = 0) -> LoadSettings:
    """The user's load defaults as `LoadSettings`, no GPU layers yet.

    The context is capped at what the model was trained for (``n_ctx_train``, 0 when
    unknown); a quantized V cache with flash attention off, which llama.cpp refuses,
    becomes Auto.
    """
    n_ctx = min(defaults.n_ctx, n_ctx_train) if n_ctx_train > 0 else defaults.n_ctx
    return LoadSettings(
        n_ctx=n_ctx,
        n_batch=defaults.n_batch,
        n_ubatch=min(defaults.n_ubatch, defaults.n_batch),
        type_k=defaults.kv_type,
        type_v=defaults.kv_type,
        flash_attn=_flash(defaults.flash_attn, defaults.kv_type),
        use_mmap=defaults.use_mmap,
        n_threads=defaults.n_threads,
    )


def from_remembered(saved: ModelLoadSettings, base: LoadSettings) -> LoadSettings:
    """`base` with the remembered values; an impossible combination keeps `base`'s."""
    try:
        return base.with_changes(
            n_gpu_layers=saved.n_gpu_layers,
            n_ctx=saved.n_ctx,
            type_k=saved.kv_type,
            type_v=saved.kv_type,
            flash_attn=_flash(saved.flash_attn, saved.kv_type),
            n_threads=saved.n_threads if saved.n_threads is not None else base.n_threads,
            n_cpu_moe=saved.n_cpu_moe,
            split_mode=saved.split_mode,
            main_gpu=saved.main_gpu,
        )
    except ValueError:
        return base


def to_remembered(settings: LoadSettings, *, gpu: str | None) -> ModelLoadSettings:
    """What the settings file keeps of `settings`, and the chosen GPU's id."""
    return ModelLoadSettings(
        n_gpu_layers=settings.n_gpu_layers,
        n_ctx=max(settings.n_ctx, 128),
        kv_type=cast(KvType, settings.type_v),  # a name LoadSettings has checked
        flash_attn="auto" if settings.flash_attn is None else settings.flash_attn,
        gpu=gpu,
        n_threads=settings.n_threads,
        n_cpu_moe=settings.n_cpu_moe,
        split_mode=cast(SplitMode, settings.split_mode),  # checked by LoadSettings
        main_gpu=settings.main_gpu,
    )


def keep_to_card(
    settings: LoadSettings, card: GpuInfo | None, machine: Sequence[GpuInfo]
) -> LoadSettings:
    """`settings` for a load planned on `card` alone, one of the GPUs in this machine
    (`machine`, as the probe lists them): it names that card (`LoadSettings.gpus`), since
    llama.cpp would otherwise spread the layers over every GPU it sees and allocate what no
    plan showed. With one GPU, no card, several cards (`All GPUs`, the workers) or a card
    not in this machine (what-if), the load uses llama.cpp's default devices."""
    real = {gpu.uuid for gpu in machine if not gpu.is_what_if}
    gpus = (card.index,) if card is not None and len(real) > 1 and card.uuid in real else ()
    return settings if settings.gpus == gpus else settings.with_changes(gpus=gpus)


def settings_for(
    model: ModelInfo,
    path: Path | str,
    settings: Settings,
    *,
    gpu: GpuInfo | None,
    machine: Sequence[GpuInfo] = (),
) -> LoadSettings:
    """How to load `model` (at `path`): remembered settings, else the defaults fitted to `gpu`.

    Remembered over the workers (`WORKERS_TARGET`), the load names the settings' workers.

    ``gpu`` is the card to fit to; None keeps every layer on the CPU. The card's usable
    memory is `GpuInfo.usable_bytes` and the margin is the user's safety margin: the same
    numbers the Load panel and the verdicts use. ``machine`` is every GPU the probe found:
    a load planned for one of several is kept to that card (`keep_to_card`), the one
    remembered for the file or else ``gpu``.
    """
    from lmdesk.core.estimate.projector import fit_with_projector, projector_or_none

    base = default_load_settings(settings.load, n_ctx_train=model.n_ctx_train)
    base = base.with_changes(mmproj=projector_for(path, model))
    remembered = settings.remembered(str(path))
    if remembered is not None:
        load = from_remembered(remembered, base)
        if remembered.gpu == WORKERS_TARGET and settings.rpc_workers:
            load = load.with_changes(rpc=tuple(settings.rpc_workers))
        card = next((g for g in machine if g.uuid == remembered.gpu), None)
        return keep_to_card(load, card, machine)
    if gpu is None:
        return base
    result = fit_with_projector(
        model,
        base,
        projector_or_none(base.mmproj),
        gpu_free=gpu.usable_bytes,
        margin=settings.gpu_safety_margin_bytes,
        gpu_name=gpu.name,
    )
    _log.info("fitted %s to %s: %s", Path(path).name, gpu.name, result.choice())
    fitted = base.with_changes(n_gpu_layers=result.n_gpu_layers, n_cpu_moe=result.n_cpu_moe)
    return keep_to_card(fitted, gpu, machine)


def projector_for(path: Path | str, model: ModelInfo) -> str | None:
    """The vision projector to load with the model at `path`: the one beside it that makes
    embeddings as wide as the model's (None: no projector, or several that fit)."""
    from lmdesk.core.gguf.projector import find_projector

    found = find_projector(path, model.n_embd)
    return str(found) if found is not None else None


def usable_gpu(gpu: GpuInfo | None, build: LlamaBuild | None) -> GpuInfo | None:
    """`gpu` if layers can really go there: a card in this computer (not a what-if one) and a
    llama.cpp that is not known to lack GPU support; else None (everything on the CPU)."""
    if gpu is None or gpu.is_what_if or (build is not None and not build.has_cuda):
        return None
    return gpu


def best_gpu(gpus: Sequence[GpuInfo], build: LlamaBuild | None) -> GpuInfo | None:
    """The real GPU with the most memory lmdesk can use, when llama.cpp can use a GPU."""
    real = [g for g in gpus if usable_gpu(g, build) is not None]
    return max(real, key=lambda g: g.usable_bytes) if real and build is not None else None


def plan_load(
    path: Path, *, settings: Settings, probe: GpuProbe | None, build: LlamaBuild | None
) -> LoadSettings:
    """`settings_for` a file nobody chose settings for, fitted to the best real GPU.

    Blocking: reads the file's header (run it off the GUI thread).
    """
    from lmdesk.core.gguf import read_model

    machine = probe.gpus if probe else ()
    gpu = best_gpu(machine, build)
    return settings_for(read_model(path), path, settings, gpu=gpu, machine=machine)


def model_to_load_at_start(
    last: str | None, models_dir: Path, remote_servers: Sequence[RemoteServer] = ()
) -> str | None:
    """The model the app loads when it starts: the one used last, else the starter model.

    The one used last may be a remote server's (``"server / model id"``): it is chosen again
    while that server is in the settings (`remote_servers`); whether it answers is the load's
    to find out. None when neither is there (a file moved, deleted, never fetched).
    """
    from lmdesk.core.remote_engines import remote_model_named
    from lmdesk.core.starter import starter_path

    if last and remote_model_named(last, remote_servers) is not None:
        return last
    candidates = [last] if last else []
    candidates.append(str(starter_path(models_dir)))
    return next((c for c in candidates if Path(c).is_file()), None)


def lighter_settings(
    settings: LoadSettings, *, n_layer: int, n_ctx_train: int, n_expert: int = 0
) -> tuple[str, LoadSettings] | None:
    """After an out-of-memory load: a setting that needs less, and its words for a button.

    For a mixture-of-experts model (``n_expert`` > 0), the experts of more layers in RAM
    first (a quarter of the layers more), as Auto does; then fewer GPU layers (a quarter
    fewer, at least one), as the memory that ran out is most often the card's; with nothing
    on the GPU, a shorter context (the trained length when the context was longer, else
    half). None when there is nothing left to give up.
    """
    on_gpu = settings.gpu_layers_for(n_layer)
    if on_gpu > 0 and n_expert and settings.n_cpu_moe < n_layer:
        more = min(n_layer, settings.n_cpu_moe + max(1, n_layer // 4))
        label = f"Try with the experts of {more} layers on the CPU"
        return label, settings.with_changes(n_cpu_moe=more)
    if on_gpu > 0:
        fewer = max(0, on_gpu - max(1, on_gpu // 4))
        return f"Try with {fewer} GPU layers", settings.with_changes(n_gpu_layers=fewer)
    if n_ctx_train and settings.n_ctx > n_ctx_train:
        shorter = n_ctx_train
    elif settings.n_ctx > 512:
        shorter = settings.n_ctx // 2
    else:
        return None
    return f"Try a context of {shorter:,} tokens", settings.with_changes(n_ctx=shorter)
