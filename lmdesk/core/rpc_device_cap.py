"""`lmdesk worker --mem`: a local device that reports at most a given memory size.

llama.cpp's RPC server (`ggml_backend_rpc_start_server`, vendored in llama-cpp-python
0.3.36) answers a client's `get_device_memory` with ``ggml_backend_dev_memory(dev)`` on
the device of the backend it made with ``ggml_backend_dev_init`` — and the CPU and CUDA
backends record their registered device there, not the pointer given to the server. A
proxy device would therefore change only the server's banner; the answer would still be
the real memory. So this module caps the registered device itself: in this process it
replaces the ``get_memory`` slot of the device's function table
(`ggml/src/ggml-backend-impl.h`: ``struct ggml_backend_device { struct
ggml_backend_device_i iface; ggml_backend_reg_t reg; void * context; }``, ``get_memory``
the third pointer of ``iface``) with a callback that calls the real function and returns
``min(free, cap)`` and ``min(total, cap)``. Everything else stays the device's own.

Before writing, it checks that the layout is the one it expects (the first slots give
the same name and memory as ggml's public calls; ``reg`` is ``ggml_backend_dev_backend_reg``)
and that the table lies in writable memory; after writing, that ggml's public call reports
the cap. Any mismatch raises `CapError` and nothing is changed. The cap is what the worker
advertises, not a limit llama.cpp enforces: a client that ignores it can allocate more.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

from .rpc_worker import _libraries

_POINTER = ctypes.sizeof(ctypes.c_void_p)
_GET_NAME, _GET_MEMORY = 0, 2
"""Slots of `ggml_backend_device_i` (0: get_name, 1: get_description, 2: get_memory)."""
_IFACE_SLOTS = 15
"""Function pointers in `ggml_backend_device_i` in this llama.cpp; ``reg`` follows them."""

_SizeP = ctypes.POINTER(ctypes.c_size_t)
_GetMemory = ctypes.CFUNCTYPE(None, ctypes.c_void_p, _SizeP, _SizeP)
_GetName = ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.c_void_p)

_KEEP: list[object] = []
"""The callbacks in use: they must outlive the server (the process)."""


class CapError(RuntimeError):
    """The device cannot be capped safely in this llama.cpp build; ``str()`` says why."""


@dataclass(frozen=True)
class Capped:
    """What one device now reports, and what it has."""

    free_bytes: int
    total_bytes: int
    real_free_bytes: int
    real_total_bytes: int


def _ggml() -> ctypes.CDLL:
    ggml, _ = _libraries()
    ggml.ggml_backend_dev_backend_reg.argtypes = [ctypes.c_void_p]
    ggml.ggml_backend_dev_backend_reg.restype = ctypes.c_void_p
    return ggml


def _memory(ggml: ctypes.CDLL, handle: int) -> tuple[int, int]:
    free, total = ctypes.c_size_t(), ctypes.c_size_t()
    ggml.ggml_backend_dev_memory(handle, ctypes.byref(free), ctypes.byref(total))
    return free.value, total.value


def _writable(address: int, size: int) -> bool | None:
    """Whether ``[address, address+size)`` lies in one writable mapping of this process;
    None where the system does not say (no ``/proc/self/maps``)."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                span, perms = line.split()[:2]
                start, end = (int(part, 16) for part in span.split("-"))
                if start <= address and address + size <= end:
                    return "w" in perms
    except OSError:
        return None
    return False


def _slots(handle: int) -> ctypes.Array[ctypes.c_void_p]:
    return (ctypes.c_void_p * (_IFACE_SLOTS + 2)).from_address(handle)


def cap_memory(handle: int, cap_bytes: int) -> Capped:
    """Make the device ``handle`` (a ``ggml_backend_dev_t`` of this process) report at most
    ``cap_bytes`` free and total. Raises `CapError` (nothing changed) when its layout is not
    the one this module knows; a cap at or above its total changes nothing."""
    if cap_bytes <= 0:
        raise CapError(f"a memory cap must be above 0 bytes, not {cap_bytes}")
    ggml = _ggml()
    real_free, real_total = _memory(ggml, handle)
    if cap_bytes >= real_total:
        return Capped(real_free, real_total, real_free, real_total)
    slots = _slots(handle)
    name = ggml.ggml_backend_dev_name(handle)
    get_name = slots[_GET_NAME]
    get_memory = slots[_GET_MEMORY]
    if not get_name or not get_memory:
        raise CapError("this llama.cpp's device table is not the one lmdesk knows")
    if _GetName(get_name)(handle) != name:
        raise CapError("this llama.cpp's device table is not the one lmdesk knows (name)")
    if slots[_IFACE_SLOTS] != ggml.ggml_backend_dev_backend_reg(handle):
        raise CapError("this llama.cpp's device table is not the one lmdesk knows (reg)")
    real = _GetMemory(get_memory)
    free, total = ctypes.c_size_t(), ctypes.c_size_t()
    real(handle, ctypes.byref(free), ctypes.byref(total))
    if total.value != real_total:
        raise CapError("this llama.cpp's device table is not the one lmdesk knows (memory)")
    slot_address = handle + _GET_MEMORY * _POINTER
    writable = _writable(slot_address, _POINTER)
    if writable is None:
        raise CapError("--mem needs /proc/self/maps (Linux) to check the device; not here")
    if not writable:
        raise CapError("this device's function table is read-only here; --mem cannot cap it")

    def capped(dev: int, free_p: Any, total_p: Any) -> None:  # size_t * from llama.cpp
        real(dev, free_p, total_p)
        free_p[0] = min(free_p[0], cap_bytes)
        total_p[0] = min(total_p[0], cap_bytes)

    callback = _GetMemory(capped)
    _KEEP.extend((real, callback))
    slots[_GET_MEMORY] = ctypes.cast(callback, ctypes.c_void_p).value
    now_free, now_total = _memory(ggml, handle)
    if now_total != cap_bytes or now_free > cap_bytes:
        slots[_GET_MEMORY] = get_memory
        raise CapError("the device did not take the memory cap; --mem cannot be used here")
    return Capped(now_free, now_total, real_free, real_total)
