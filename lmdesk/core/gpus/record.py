"""Record the real NVML readings of this machine as a test fixture.

Run on a machine with an NVIDIA GPU:

    python -m lmdesk.core.gpus.record tests/fixtures/nvml/my_card.json

The JSON holds exactly what `probe_gpus` asks NVML, in the layout that
`tests/nvml_standin.py` replays. A failing call is stored as the name of
the pynvml error class it raised, under `errors`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

_PROCESS_CALLS = {
    "compute_processes": "nvmlDeviceGetComputeRunningProcesses",
    "graphics_processes": "nvmlDeviceGetGraphicsRunningProcesses",
}


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _device(nvml: Any, index: int) -> dict[str, Any]:
    errors: dict[str, str] = {}
    device: dict[str, Any] = {"errors": errors}

    def read(call: str, convert: Callable[[Any], Any], *args: Any) -> Any:
        try:
            return convert(getattr(nvml, call)(*args))
        except nvml.NVMLError as error:
            errors[call] = type(error).__name__
            return None

    handle = read("nvmlDeviceGetHandleByIndex", lambda h: h, index)
    if handle is None:
        return device
    device["name"] = read("nvmlDeviceGetName", _text, handle)
    device["uuid"] = read("nvmlDeviceGetUUID", _text, handle)
    device["memory"] = read(
        "nvmlDeviceGetMemoryInfo",
        lambda m: {"total": int(m.total), "free": int(m.free), "used": int(m.used)},
        handle,
    )
    device["utilization"] = read(
        "nvmlDeviceGetUtilizationRates",
        lambda u: {"gpu": int(u.gpu), "memory": int(u.memory)},
        handle,
    )
    device["memory_bus_width"] = read("nvmlDeviceGetMemoryBusWidth", int, handle)
    device["max_memory_clock_mhz"] = read("nvmlDeviceGetMaxClockInfo", int, handle, 2)  # MEM
    for key, call in _PROCESS_CALLS.items():
        device[key] = read(
            call,
            lambda ps: [{"pid": int(p.pid), "usedGpuMemory": p.usedGpuMemory} for p in ps],
            handle,
        )
    return device


def record_nvml(nvml: Any = None, *, description: str = "") -> dict[str, Any]:
    """Everything `probe_gpus` reads from NVML, as JSON-ready data."""
    if nvml is None:
        import pynvml as real

        nvml = real
    errors: dict[str, str] = {}
    data: dict[str, Any] = {"description": description, "errors": errors, "devices": []}
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as error:
        errors["nvmlInit"] = type(error).__name__
        return data
    try:
        for key, call in (
            ("driver_version", "nvmlSystemGetDriverVersion"),
            ("cuda_driver_version", "nvmlSystemGetCudaDriverVersion"),
            ("count", "nvmlDeviceGetCount"),
        ):
            try:
                value = getattr(nvml, call)()
                data[key] = _text(value) if isinstance(value, bytes) else value
            except nvml.NVMLError as error:
                errors[call] = type(error).__name__
        data["devices"] = [_device(nvml, index) for index in range(int(data.get("count", 0)))]
    finally:
        nvml.nvmlShutdown()
    data.pop("count", None)  # implied by the device list
    return data


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = json.dumps(record_nvml(description="recorded by lmdesk.core.gpus.record"), indent=2)
    if args:
        Path(args[0]).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
