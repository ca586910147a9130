"""Split mode and main GPU against the devices llama.cpp will really get, before it loads.

llama.cpp reports both mistakes badly: a main GPU past the last device is a NULL model and
an "invalid value for main_gpu" log line (lmdesk would call the file corrupt), and split
mode "row" on a device without split buffers throws "device CUDA0 does not support split
buffers" from ``load_tensors`` (see `core.estimate.row_split`). This module asks ggml the
same questions llama.cpp asks (`ggml_backend_reg_get_proc_address` for
``ggml_backend_split_buffer_type``) and says what is wrong in words first.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

from ..estimate.row_split import ROW_REFUSED
from ..load_settings import LoadSettings
from .errors import EngineError

_GPU_TYPES = (1, 2)  # GGML_BACKEND_DEVICE_TYPE_GPU, _IGPU
_SPLIT_BUFFERS = b"ggml_backend_split_buffer_type"


def _ggml() -> Any:
    from ..rpc_worker import _libraries

    ggml, _ = _libraries()
    ggml.ggml_backend_dev_backend_reg.argtypes = [ctypes.c_void_p]
    ggml.ggml_backend_dev_backend_reg.restype = ctypes.c_void_p
    ggml.ggml_backend_reg_get_proc_address.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    ggml.ggml_backend_reg_get_proc_address.restype = ctypes.c_void_p
    return ggml


def default_devices() -> list[int]:
    """The GPU devices llama.cpp picks when it is given none (RPC workers registered in
    this process included), as ggml handles."""
    ggml = _ggml()
    handles = [ggml.ggml_backend_dev_get(i) for i in range(int(ggml.ggml_backend_dev_count()))]
    return [int(h) for h in handles if int(ggml.ggml_backend_dev_type(h)) in _GPU_TYPES]


def device_name(handle: int) -> str:
    return str(_ggml().ggml_backend_dev_name(handle).decode())


def has_split_buffers(handle: int) -> bool:
    """Whether the device's backend offers a split buffer type (what split mode "row" needs)."""
    ggml = _ggml()
    reg = ggml.ggml_backend_dev_backend_reg(handle)
    return bool(reg) and bool(ggml.ggml_backend_reg_get_proc_address(reg, _SPLIT_BUFFERS))


def check_split(settings: LoadSettings, devices: Sequence[int] | None = None) -> None:
    """Raise `EngineError` when llama.cpp would refuse these settings on ``devices`` (the
    list handed to llama.cpp; None: its default, `default_devices`)."""
    if settings.split_mode == "layer" and not settings.main_gpu:
        return  # llama.cpp's default: nothing to check, no need to ask ggml
    handles = list(default_devices() if devices is None else devices)
    if settings.main_gpu and settings.main_gpu >= len(handles):
        names = ", ".join(f"{i}: {device_name(h)}" for i, h in enumerate(handles))
        raise EngineError(
            f"There is no GPU {settings.main_gpu} to be the main GPU: llama.cpp has "
            + (f"{len(handles)} ({names})." if handles else "no GPU device here.")
        )
    if settings.split_mode == "row":
        missing = [device_name(h) for h in handles if not has_split_buffers(h)]
        if missing:
            text = ROW_REFUSED.replace("its CUDA and RPC devices", ", ".join(missing))
            raise EngineError(f"{text[0].upper()}{text[1:]}.")
