"""Read the machine's NVIDIA GPUs through NVML (the nvidia-ml-py `pynvml` module).

`probe_gpus` never raises: a machine without a driver or GPU is normal for
lmdesk (it then runs on the CPU), so the answer carries a `reason` the UI can
show instead. `nvml` is any object with the few pynvml calls used here; the
tests pass a recorded stand-in because their machine has no GPU.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

from lmdesk.core.gpus.cards import GpuInfo, published_spec

NO_DRIVER = "no NVIDIA driver"
NO_GPU = "no NVIDIA GPU"

#: Plain words for the NVML errors people actually meet; others use NVML's own text.
_ERROR_WORDS = {
    "NVMLError_NoPermission": "no permission to use the GPU (is this user in the video group?)",
    "NVMLError_GpuIsLost": "the GPU stopped responding (it fell off the bus or was reset)",
    "NVMLError_Unknown": "an unknown NVML error",
    "NVMLError_InsufficientSize": "NVML needs a bigger buffer (driver too old?)",
    "NVMLError_FunctionNotFound": "the NVIDIA driver is too old for this call",
}


@dataclass(frozen=True)
class GpuProbe:
    """The GPUs found, and why the list is empty or incomplete (`reason`), if it is."""

    gpus: tuple[GpuInfo, ...]
    reason: str | None = None


def _text(value: Any) -> str:
    """Old pynvml versions return bytes, newer ones str."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _error_name(error: BaseException) -> str:
    return type(error).__name__


def describe_nvml_error(error: BaseException) -> str:
    """An NVML error in words; str(NVMLError) needs the library loaded, so map names first."""
    words = _ERROR_WORDS.get(_error_name(error))
    if words is None:
        try:
            words = str(error) or _error_name(error)
        except Exception:  # pynvml's __str__ calls into the library
            words = _error_name(error)
    return words


def format_cuda_version(version: int) -> str:
    """NVML's `12040` -> `"12.4"` (major * 1000 + minor * 10)."""
    return f"{version // 1000}.{version % 1000 // 10}"


def _optional(nvml: Any, call: str, *args: Any) -> Any:
    """A call some GPUs or platforms do not support (WSL, vGPU): None instead of failing."""
    try:
        return getattr(nvml, call)(*args)
    except nvml.NVMLError:
        return None


def _memory_of_pid(nvml: Any, handle: Any, pid: int) -> int:
    """GPU memory held by `pid`, from the compute and graphics process lists (0 if unknown)."""
    total = 0
    for call in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
        for process in _optional(nvml, call, handle) or ():
            if process.pid == pid and process.usedGpuMemory:
                total += int(process.usedGpuMemory)
    return total


#: ``NVML_CLOCK_MEM`` in nvml.h (``nvmlClockType_t``).
_CLOCK_MEM = 2


def memory_bandwidth(nvml: Any, handle: Any) -> float | None:
    """Peak memory bandwidth in bytes/s: bus width (bits) / 8 x the maximum memory clock x 2.

    NVML reports GDDR and HBM clocks at half the data rate (an RTX 4090: 384 bits,
    10,501 MHz -> 1,008 GB/s; an A100 80 GB: 5,120 bits, 1,593 MHz -> 2,039 GB/s, as
    their datasheets say), hence the 2. None when the driver cannot tell.
    """
    bus_bits = _optional(nvml, "nvmlDeviceGetMemoryBusWidth", handle)
    clock_mhz = _optional(nvml, "nvmlDeviceGetMaxClockInfo", handle, _CLOCK_MEM)
    if not bus_bits or not clock_mhz:
        return None
    return int(bus_bits) / 8 * int(clock_mhz) * 1e6 * 2


def _read_device(nvml: Any, index: int, driver: str, cuda: str, own_pid: int) -> GpuInfo:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    used = int(memory.used)
    utilization = _optional(nvml, "nvmlDeviceGetUtilizationRates", handle)
    name = _text(nvml.nvmlDeviceGetName(handle))
    spec = published_spec(name)  # NVML cannot tell tensor throughput: the published figure
    return GpuInfo(
        index=index,
        name=name,
        total_bytes=int(memory.total),
        free_bytes=int(memory.free),
        used_bytes=used,
        # Per-process numbers are often missing (containers, Windows): used minus
        # ours is always available and also counts the driver's own reservation.
        used_by_others_bytes=max(used - _memory_of_pid(nvml, handle, own_pid), 0),
        utilization_percent=None if utilization is None else int(utilization.gpu),
        driver_version=driver,
        cuda_version=cuda,
        uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
        memory_bandwidth=memory_bandwidth(nvml, handle),
        fp16_flops=spec.fp16_flops if spec else None,
    )


def _read_all(nvml: Any, own_pid: int) -> GpuProbe:
    count = int(nvml.nvmlDeviceGetCount())
    if count == 0:
        return GpuProbe(gpus=(), reason=NO_GPU)
    driver = _text(nvml.nvmlSystemGetDriverVersion())
    cuda_raw = _optional(nvml, "nvmlSystemGetCudaDriverVersion")
    cuda = "" if cuda_raw is None else format_cuda_version(int(cuda_raw))
    gpus: list[GpuInfo] = []
    problems: list[str] = []
    for index in range(count):
        try:
            gpus.append(_read_device(nvml, index, driver, cuda, own_pid))
        except nvml.NVMLError as error:  # one broken GPU must not hide the others
            problems.append(f"GPU {index}: {describe_nvml_error(error)}")
    reason = ("NVML error: " + "; ".join(problems)) if problems else None
    return GpuProbe(gpus=tuple(gpus), reason=reason)


def probe_gpus(nvml: Any = None, *, own_pid: int | None = None) -> GpuProbe:
    """Every NVIDIA GPU with its memory now; never raises.

    `own_pid` is the process whose GPU memory counts as lmdesk's own (default:
    this process); it is excluded from `used_by_others_bytes`.
    """
    if nvml is None:
        try:
            import pynvml
        except ImportError:
            return GpuProbe(gpus=(), reason="nvidia-ml-py is not installed")
        nvml = pynvml
    pid = os.getpid() if own_pid is None else own_pid
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as error:
        if _error_name(error) in ("NVMLError_LibraryNotFound", "NVMLError_DriverNotLoaded"):
            return GpuProbe(gpus=(), reason=NO_DRIVER)
        return GpuProbe(gpus=(), reason=f"NVML error: {describe_nvml_error(error)}")
    except OSError as error:  # a broken libnvidia-ml can fail in ctypes itself
        return GpuProbe(gpus=(), reason=f"{NO_DRIVER} ({error})")
    try:
        return _read_all(nvml, pid)
    except nvml.NVMLError as error:
        return GpuProbe(gpus=(), reason=f"NVML error: {describe_nvml_error(error)}")
    finally:
        with contextlib.suppress(nvml.NVMLError):
            nvml.nvmlShutdown()
