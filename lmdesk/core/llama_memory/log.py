"""Parse llama.cpp's "... buffer size = N MiB" log lines into bytes per device."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_LINE = re.compile(
    r"^\S+:\s+(?P<buffer>\S+)\s+(?P<kind>model|KV|RS|compute|output) buffer size =\s+"
    r"(?P<mib>[\d.]+) MiB",
    re.MULTILINE,
)
MiB = 1024 * 1024
_REPACK_BUFFERS = ("AMX", "CPU_REPACK", "KLEIDIAI")
_HOST_BUFFERS = ("CPU", "CPU_Mapped", "CUDA_Host", "CPU_AARCH64")


@dataclass
class Buffers:
    """One device's buffers, in bytes (llama.cpp logs MiB with two decimals: ±5 KiB)."""

    weights: int = 0
    repack: int = 0
    kv_cache: int = 0
    compute: int = 0
    output: int = 0
    names: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.weights + self.repack + self.kv_cache + self.compute + self.output


def device_of(buffer: str) -> str:
    """'CPU' for host buffers, else the device part of the name ('RPC0[...]', 'CUDA0')."""
    if buffer in _HOST_BUFFERS or buffer in _REPACK_BUFFERS:
        return "CPU"
    return buffer


def parse_buffer_log(text: str) -> dict[str, Buffers]:
    """Bytes per device from a llama.cpp load log; the CPU first."""
    devices: dict[str, Buffers] = {"CPU": Buffers()}
    for match in _LINE.finditer(text):
        buffer, kind = match.group("buffer"), match.group("kind")
        size = round(float(match.group("mib")) * MiB)
        entry = devices.setdefault(device_of(buffer), Buffers())
        entry.names.append(f"{buffer} {kind}")
        if kind == "model":
            if buffer in _REPACK_BUFFERS:
                entry.repack += size
            else:
                entry.weights += size
        elif kind in ("KV", "RS"):  # RS: a recurrent model's per-sequence state
            entry.kv_cache += size
        elif kind == "compute":
            entry.compute += size
        else:
            entry.output += size
    return devices
