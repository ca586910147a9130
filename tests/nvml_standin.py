"""A stand-in for the few pynvml calls lmdesk makes, replaying readings from fixtures.

This machine has no NVIDIA GPU, so NVML cannot be reached here. The readings
under tests/fixtures/nvml/ are in the layout `lmdesk.core.gpus.record` writes
on a machine that has one, but they were written by hand, with the sizes,
versions and error names of the cards and failures they describe: no NVIDIA
machine has been lent to this project to record one (`bench/gpu_check.py`
records `nvml_recorded.json` there). Only "no libnvidia-ml.so" is also read
for real, here, by tests/test_gpus.py. Errors are real `pynvml.NVMLError`
subclasses, raised by name from the fixture's `errors` tables, and every
call made before `nvmlInit` (or after the matching `nvmlShutdown`) raises
`NVMLError_Uninitialized`, as the real library does.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml

FIXTURES = Path(__file__).parent / "fixtures" / "nvml"


class NvmlStandIn:
    """Replays one JSON fixture; counts init/shutdown so tests can check they pair up."""

    NVMLError = pynvml.NVMLError

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self._errors: dict[str, str] = data.get("errors", {})
        self._devices: list[dict[str, Any]] = data.get("devices", [])
        self.init_calls = 0
        self.shutdown_calls = 0
        self._refcount = 0

    @classmethod
    def from_fixture(cls, name: str) -> NvmlStandIn:
        return cls(json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8")))

    # -- helpers ---------------------------------------------------------------
    def _raise_recorded(self, call: str, errors: dict[str, str]) -> None:
        if call in errors:
            raise getattr(pynvml, errors[call])()

    def _system(self, call: str) -> None:
        if self._refcount == 0:
            raise pynvml.NVMLError_Uninitialized()
        self._raise_recorded(call, self._errors)

    def _device(self, call: str, handle: SimpleNamespace) -> dict[str, Any]:
        self._system(call)
        device: dict[str, Any] = self._devices[handle.index]
        self._raise_recorded(call, device.get("errors", {}))
        return device

    # -- the pynvml calls ------------------------------------------------------
    def nvmlInit(self) -> None:
        self.init_calls += 1
        self._raise_recorded("nvmlInit", self._errors)
        self._refcount += 1

    def nvmlShutdown(self) -> None:
        self._system("nvmlShutdown")
        self.shutdown_calls += 1
        self._refcount -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        self._system("nvmlSystemGetDriverVersion")
        return str(self._data["driver_version"])

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._system("nvmlSystemGetCudaDriverVersion")
        return int(self._data["cuda_driver_version"])

    def nvmlDeviceGetCount(self) -> int:
        self._system("nvmlDeviceGetCount")
        return len(self._devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> SimpleNamespace:
        self._system("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(self._devices):
            raise pynvml.NVMLError_InvalidArgument()
        self._raise_recorded("nvmlDeviceGetHandleByIndex", self._devices[index].get("errors", {}))
        return SimpleNamespace(index=index)

    def nvmlDeviceGetName(self, handle: SimpleNamespace) -> str:
        return str(self._device("nvmlDeviceGetName", handle)["name"])

    def nvmlDeviceGetUUID(self, handle: SimpleNamespace) -> str:
        return str(self._device("nvmlDeviceGetUUID", handle)["uuid"])

    def nvmlDeviceGetMemoryInfo(self, handle: SimpleNamespace) -> SimpleNamespace:
        return SimpleNamespace(**self._device("nvmlDeviceGetMemoryInfo", handle)["memory"])

    def nvmlDeviceGetUtilizationRates(self, handle: SimpleNamespace) -> SimpleNamespace:
        return SimpleNamespace(
            **self._device("nvmlDeviceGetUtilizationRates", handle)["utilization"]
        )

    def _optional_field(self, call: str, handle: SimpleNamespace, key: str) -> int:
        """A reading older fixtures lack: NotSupported, as drivers answer for it on WSL."""
        value = self._device(call, handle).get(key)
        if value is None:
            raise pynvml.NVMLError_NotSupported()
        return int(value)

    def nvmlDeviceGetMemoryBusWidth(self, handle: SimpleNamespace) -> int:
        return self._optional_field("nvmlDeviceGetMemoryBusWidth", handle, "memory_bus_width")

    def nvmlDeviceGetMaxClockInfo(self, handle: SimpleNamespace, clock_type: int) -> int:
        if clock_type != 2:  # NVML_CLOCK_MEM: the only clock lmdesk reads
            raise pynvml.NVMLError_InvalidArgument()
        return self._optional_field("nvmlDeviceGetMaxClockInfo", handle, "max_memory_clock_mhz")

    def _processes(self, call: str, key: str, handle: SimpleNamespace) -> list[SimpleNamespace]:
        return [SimpleNamespace(**p) for p in self._device(call, handle)[key]]

    def nvmlDeviceGetComputeRunningProcesses(
        self, handle: SimpleNamespace
    ) -> list[SimpleNamespace]:
        return self._processes("nvmlDeviceGetComputeRunningProcesses", "compute_processes", handle)

    def nvmlDeviceGetGraphicsRunningProcesses(
        self, handle: SimpleNamespace
    ) -> list[SimpleNamespace]:
        return self._processes(
            "nvmlDeviceGetGraphicsRunningProcesses", "graphics_processes", handle
        )
