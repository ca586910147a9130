"""The devices a load uses when it names `lmdesk worker`s: the local GPUs, then each
worker's devices, handed to llama.cpp in ``llama_model_params.devices``.

A worker is registered with ``ggml_backend_rpc_add_server`` only after `rpc_worker.probe`
(a child process) found it sound: llama.cpp's RPC client aborts the process on a bad peer.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Sequence
from typing import Any

from ..counted import counted
from ..rpc_worker import WorkerError, add_server, probe
from .errors import EngineError

_GPU_TYPES = (1, 2)  # GGML_BACKEND_DEVICE_TYPE_GPU, _IGPU
_lock = threading.Lock()
_registered: dict[str, list[int]] = {}


def _ggml() -> Any:
    from ..rpc_worker import _libraries

    return _libraries()


def _worker_devices(endpoint: str) -> list[int]:
    with _lock:
        if endpoint not in _registered:
            handles = add_server(endpoint)
            if handles is None:
                raise EngineError(f"llama.cpp could not register the worker at {endpoint}.")
            _registered[endpoint] = handles
        return _registered[endpoint]


def _local_gpus() -> list[int]:
    ggml, _ = _ggml()
    handles = []
    for i in range(int(ggml.ggml_backend_dev_count())):
        handle = ggml.ggml_backend_dev_get(i)
        if ggml.ggml_backend_dev_name(handle).decode().upper().startswith("RPC"):
            continue
        if int(ggml.ggml_backend_dev_type(handle)) in _GPU_TYPES:
            handles.append(int(handle))
    return handles


def chosen_gpus(local: Sequence[int], gpus: Sequence[int]) -> list[int]:
    """The handles of the local GPUs numbered in `gpus` (all of `local` when empty).

    A llama.cpp that sees no GPU at all (a CPU build) runs everything on the CPU, as it
    does with any GPU layer count; a number past the GPUs it does see is an error."""
    missing = [gpu for gpu in gpus if gpu >= len(local)]
    if missing and local:
        raise EngineError(
            f"There is no GPU {missing[0]} to load on: llama.cpp sees "
            f"{counted(len(local), 'GPU')} here."
        )
    return [local[gpu] for gpu in gpus if gpu < len(local)] if gpus else list(local)


def device_array(endpoints: Sequence[str], gpus: Sequence[int] = ()) -> Any:
    """A NULL-terminated ``ggml_backend_dev_t[]``: local GPUs (those numbered in `gpus`, or
    all), then the workers' devices.

    Raises `EngineError` saying which GPU is not there, or which worker cannot be used
    (probed first, in a child)."""
    handles = chosen_gpus(_local_gpus(), gpus)
    for endpoint in endpoints:
        try:
            probe(endpoint)
        except WorkerError as exc:
            raise EngineError(f"The worker {endpoint} cannot be used: {exc}.") from exc
        handles += _worker_devices(endpoint)
    return (ctypes.c_void_p * (len(handles) + 1))(*handles, None)
