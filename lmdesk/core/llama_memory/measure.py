"""Load a model with llama.cpp's low-level API and capture the buffers it reports."""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from pathlib import Path

from ..load_settings import LoadSettings
from .log import Buffers, parse_buffer_log


def measure(
    path: str | Path,
    settings: LoadSettings,
    *,
    device: int | None = None,
    devices: Sequence[int] = (),
    extra_buffers: bool | None = None,
    while_loaded: Callable[[], None] | None = None,
) -> dict[str, Buffers]:
    """Load ``path`` with ``settings``, create a context, and return llama.cpp's buffers.

    ``device`` is a ggml device handle (an RPC server's, say) to offload to, ``devices``
    several (split by ``settings.tensor_split``); neither uses whatever this build has.
    ``extra_buffers`` lets llama.cpp make its AMX / repacked weight copies (None: as the
    engine would). ``while_loaded`` runs with the model and
    its context in memory (to read NVML, say). Nothing is generated, and the model is
    freed before returning.
    """
    import llama_cpp

    from ..engine.llama_log import capture
    from ..engine.overrides import ExpertOverrides
    from ..estimate.cpu_buffers import extra_buffers_allowed

    model_params = llama_cpp.llama_model_default_params()
    model_params.use_extra_bufts = (
        extra_buffers_allowed() if extra_buffers is None else extra_buffers
    )
    model_params.n_gpu_layers = settings.n_gpu_layers
    model_params.use_mmap = settings.use_mmap
    overrides = ExpertOverrides(settings.n_cpu_moe)
    overrides.apply(model_params)
    handles = list(devices) or ([device] if device is not None else [])
    device_list = split = None
    if handles:
        device_list = (ctypes.c_void_p * (len(handles) + 1))(*handles, None)
        model_params.devices = ctypes.cast(device_list, ctypes.c_void_p)
    if settings.tensor_split:
        split = (ctypes.c_float * llama_cpp.llama_max_devices())(*settings.tensor_split)
        model_params.tensor_split = split
    ctx_params = llama_cpp.llama_context_default_params()
    ctx_params.n_ctx = settings.n_ctx
    ctx_params.n_batch = settings.n_batch
    ctx_params.n_ubatch = settings.n_ubatch
    ctx_params.type_k = settings.kv_type_k.ggml_type
    ctx_params.type_v = settings.kv_type_v.ggml_type
    ctx_params.offload_kqv = settings.offload_kqv
    ctx_params.swa_full = settings.swa_full
    ctx_params.flash_attn_type = {
        None: llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO,
        True: llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED,
        False: llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED,
    }[settings.flash_attn]
    with capture() as log:  # the engine's one log sink: loads and measurements share it
        model = llama_cpp.llama_model_load_from_file(str(path).encode(), model_params)
        if not model:
            raise RuntimeError(f"llama.cpp could not load {path}")
        try:
            ctx = llama_cpp.llama_init_from_model(model, ctx_params)
            if not ctx:
                raise RuntimeError("llama.cpp could not create a context")
            try:
                if while_loaded is not None:
                    while_loaded()
            finally:
                llama_cpp.llama_free(ctx)
        finally:
            llama_cpp.llama_model_free(model)
    del device_list, split, overrides
    return parse_buffer_log(log.text())
