"""Loading a GGUF model into llama.cpp: settings to native parameters, progress, cancel.

A failed load raises the `EngineError` subclass that says what went wrong in
words a person understands (`load_failures`), so the process never crashes on
a bad file and the UI never shows "Failed to load model from file".
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp

from ..cpu_threads import threads_for
from ..estimate.cpu_buffers import extra_buffers_allowed
from ..load_settings import ALL_LAYERS, SPLIT_MODE_IDS, LoadSettings
from . import llama_log
from .errors import EngineError, LoadCancelled, ModelFileError
from .load_failures import classify_context_failure, classify_load_failure
from .native import NativeModel, ensure_backend
from .overrides import ExpertOverrides
from .split_check import check_split

ProgressCallback = Callable[[float], bool]
"""Called with 0.0..1.0 while the weights load; returning False cancels the load."""

GGUF_MAGIC = b"GGUF"


def model_params(settings: LoadSettings) -> tuple[Any, Any]:
    """The native model parameters, and an object to keep alive while the model lives."""
    params = llama_cpp.llama_model_default_params()
    params.use_extra_bufts = extra_buffers_allowed()
    split_array: Any = None
    split = getattr(settings, "tensor_split", None)
    if split:
        n_devices = int(llama_cpp.llama_max_devices())
        if len(split) > n_devices:
            raise EngineError(
                f"The tensor split names {len(split)} GPUs; this llama.cpp build supports "
                f"{n_devices}."
            )
        split_array = (ctypes.c_float * n_devices)(*split)
        params.tensor_split = split_array
    overrides = ExpertOverrides(settings.n_cpu_moe)  # experts of the first N layers in RAM
    overrides.apply(params)
    devices: Any = None
    if settings.rpc or settings.gpus:
        from .rpc_devices import device_array

        devices = device_array(settings.rpc, settings.gpus)
        params.devices = ctypes.cast(devices, ctypes.c_void_p)
        n_devices = len(devices) - 1  # NULL-terminated
        if split and len(split) > n_devices:
            raise EngineError(
                f"The tensor split names {len(split)} devices, but there are {n_devices}: "
                "this machine's GPUs and the workers' devices, in that order."
            )
    check_split(settings, None if devices is None else [d for d in devices if d])
    params.split_mode = SPLIT_MODE_IDS[settings.split_mode]
    params.main_gpu = settings.main_gpu
    keep_alive = (split_array, overrides, devices)
    params.n_gpu_layers = (
        0x7FFFFFFF if settings.n_gpu_layers == ALL_LAYERS else settings.n_gpu_layers
    )
    if settings.use_mmap and settings.use_mlock:
        params.load_mode = llama_cpp.LLAMA_LOAD_MODE_MMAP_MLOCK
    elif settings.use_mlock:
        params.load_mode = llama_cpp.LLAMA_LOAD_MODE_MLOCK
    elif settings.use_mmap:
        params.load_mode = llama_cpp.LLAMA_LOAD_MODE_MMAP
    else:
        params.load_mode = llama_cpp.LLAMA_LOAD_MODE_NONE
    return params, keep_alive


def context_params(settings: LoadSettings) -> Any:
    params = llama_cpp.llama_context_default_params()
    threads = threads_for(settings.n_threads)
    params.n_ctx = settings.n_ctx
    params.n_batch = settings.n_batch
    params.n_ubatch = min(settings.n_ubatch, settings.n_batch)
    params.n_threads = threads.generation
    params.n_threads_batch = threads.batch
    params.type_k = settings.kv_type_k.ggml_type
    params.type_v = settings.kv_type_v.ggml_type
    params.flash_attn_type = {
        None: llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO,
        True: llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED,
        False: llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED,
    }[settings.flash_attn]
    params.offload_kqv = settings.offload_kqv
    swa_full = getattr(settings, "swa_full", None)
    if swa_full is not None:
        params.swa_full = swa_full
    params.no_perf = True
    return params


@dataclass(frozen=True)
class NativeLoad:
    native: NativeModel
    log: llama_log.LogCapture
    load_s: float


def check_file(path: Path) -> None:
    """Fail early, with a plain message, on what llama.cpp would only log cryptically."""
    if not path.exists():
        raise ModelFileError(f"The model file {path} does not exist.")
    if not path.is_file():
        raise ModelFileError(f"{path} is a folder, not a model file.")
    try:
        with path.open("rb") as stream:
            magic = stream.read(4)
    except OSError as exc:
        raise ModelFileError(f"The model file {path} cannot be read: {exc.strerror}.") from exc
    if magic != GGUF_MAGIC:
        raise ModelFileError(
            f"{path.name} is not a GGUF model file (it does not start with 'GGUF'). "
            "lmdesk runs GGUF files; other formats (safetensors, .bin) must be converted first."
        )


def load_native(
    path: Path, settings: LoadSettings, *, on_progress: ProgressCallback | None = None
) -> NativeLoad:
    """Load the model and create its context; raise an `EngineError` subclass on failure."""
    ensure_backend()
    check_file(path)
    params, keep_alive = model_params(settings)
    callback_error: list[BaseException] = []
    cancelled = [False]

    def progress(value: float, _user_data: object) -> bool:
        # Runs inside llama.cpp: an exception here must not escape into C.
        try:
            if on_progress is not None and on_progress(min(max(float(value), 0.0), 1.0)) is False:
                cancelled[0] = True
                return False
            return True
        except BaseException as exc:
            callback_error.append(exc)
            return False

    # Keep the ctypes callback referenced until llama.cpp returns (it is called during the load).
    c_progress = llama_cpp.llama_progress_callback(progress)
    params.progress_callback = c_progress
    started = time.perf_counter()
    with llama_log.capture() as log:
        model = llama_cpp.llama_model_load_from_file(str(path).encode("utf-8"), params)
        if model is None:
            if callback_error:
                raise EngineError(
                    f"Loading stopped: the progress callback failed ({callback_error[0]!r})."
                ) from callback_error[0]
            if cancelled[0]:
                raise LoadCancelled(f"Loading {path.name} was cancelled.")
            raise classify_load_failure(path, log)
        ctx = llama_cpp.llama_init_from_model(model, context_params(settings))
        if ctx is None:
            llama_cpp.llama_model_free(model)
            raise classify_context_failure(settings, log)
    del c_progress
    native = NativeModel(model, ctx)
    native.params_memory = keep_alive  # llama.cpp keeps pointers into it (override patterns)
    return NativeLoad(native, log, time.perf_counter() - started)
