"""`lmdesk worker` devices as plan targets, after the local GPUs (llama.cpp's order).

Each worker is asked for its devices' free memory with `rpc_worker.probe` (a child
process: a bad peer never reaches this one). A remote device has no CUDA context here:
its overhead is 0, and llama.cpp logs its buffers as ``RPC<n>[host:port]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..rpc_worker import PROBE_TIMEOUT_S, Device, probe
from .estimator import GpuTarget


@dataclass(frozen=True)
class RemoteDevice:
    """One device a worker offers: the worker's address and what it reported."""

    endpoint: str
    device: Device

    @property
    def name(self) -> str:
        return f"{self.device.name}@{self.endpoint}"

    def target(self) -> GpuTarget:
        return GpuTarget(self.name, weight=float(self.device.free_bytes), overhead=0)


def remote_devices(
    endpoints: Sequence[str], *, timeout_s: float = PROBE_TIMEOUT_S
) -> list[RemoteDevice]:
    """Every device of every worker, in order; `WorkerError` names the first that fails."""
    return [RemoteDevice(e, d) for e in endpoints for d in probe(e, timeout_s=timeout_s)]
