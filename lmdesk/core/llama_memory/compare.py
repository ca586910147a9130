"""The estimate next to what llama.cpp allocated, component by component."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..estimate import NO_EXTRA_BUFFERS, GpuTarget, MemoryPlan, estimate, host_cpu_features
from ..gguf import ModelInfo
from ..load_settings import LoadSettings
from .log import Buffers
from .measure import measure
from .rpc import RpcServer

COMPONENTS = ("weights", "repack", "kv_cache", "compute", "output", "total")


@dataclass(frozen=True)
class Row:
    """One component of one device at one setting."""

    device: str  # "CPU", "GPU" (one RPC device) or "GPU0", "GPU1", ... (several)
    component: str
    estimate: int
    actual: int

    @property
    def error(self) -> float:
        """Relative error of the estimate (0.01 = 1 %); 0 when both are 0."""
        if self.actual == 0:
            return 0.0 if self.estimate == 0 else float("inf")
        return (self.estimate - self.actual) / self.actual

    def as_dict(self) -> dict[str, object]:
        return {
            "device": self.device,
            "component": self.component,
            "estimate": self.estimate,
            "actual": self.actual,
            "error": self.error,
        }


def compare(
    model: ModelInfo,
    path: str | Path,
    settings: LoadSettings,
    *,
    device: int | None = None,
    servers: Sequence[RpcServer] = (),
    extra_buffers: bool = True,
) -> tuple[MemoryPlan, list[Row]]:
    """Estimate and measure one setting; ``device`` is an RPC device standing in for a GPU,
    ``servers`` several RPC servers standing in for several GPUs (rows "GPU0", "GPU1", ...,
    split by ``settings.tensor_split``).

    ``extra_buffers`` (llama.cpp's default) lets the CPU make its AMX / repacked weight
    copies, on both sides; off, neither side counts them.
    """
    if servers:
        return _compare_servers(model, path, settings, servers, extra_buffers)
    gpus = [GpuTarget("GPU 0", overhead=0)] if device is not None else []
    features = host_cpu_features() if extra_buffers else NO_EXTRA_BUFFERS
    plan = estimate(model, settings, gpus, cpu=features)
    measured = measure(path, settings, device=device, extra_buffers=extra_buffers)
    cpu = measured.pop("CPU")
    gpu = next(iter(measured.values()), Buffers())
    rows = _rows("CPU", plan.cpu, cpu)
    if device is not None:
        rows += _rows("GPU", plan.gpus[0], gpu)
    return plan, rows


def _compare_servers(
    model: ModelInfo,
    path: str | Path,
    settings: LoadSettings,
    servers: Sequence[RpcServer],
    extra_buffers: bool,
) -> tuple[MemoryPlan, list[Row]]:
    gpus = [GpuTarget(f"GPU {i}", overhead=0) for i in range(len(servers))]
    features = host_cpu_features() if extra_buffers else NO_EXTRA_BUFFERS
    plan = estimate(model, settings, gpus, cpu=features)
    handles = [s.device for s in servers if s.device is not None]
    measured = measure(path, settings, devices=handles, extra_buffers=extra_buffers)
    rows = _rows("CPU", plan.cpu, measured.pop("CPU"))
    for i, server in enumerate(servers):
        actual = next((b for name, b in measured.items() if f"[{server.endpoint}]" in name), None)
        rows += _rows(f"GPU{i}", plan.gpus[i], actual or Buffers())
    return plan, rows


def _rows(device: str, planned: object, actual: Buffers) -> list[Row]:
    rows = []
    for component in COMPONENTS:
        estimate_value = int(getattr(planned, component))
        if component == "total":
            estimate_value -= int(getattr(planned, "overhead"))  # noqa: B009 - no CUDA context on RPC
        rows.append(Row(device, component, estimate_value, int(getattr(actual, component))))
    return rows
