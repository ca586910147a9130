"""The result of an estimate: bytes per device, by kind, and the layers each holds."""

from __future__ import annotations

from dataclasses import dataclass

from ..load_settings import LoadSettings

CPU = "CPU"


@dataclass(frozen=True)
class DevicePlan:
    """What one device (the CPU or a GPU) must hold for the model to load and run."""

    name: str
    weights: int = 0
    repack: int = 0  # CPU only: weights copied into an interleaved layout for speed
    kv_cache: int = 0
    compute: int = 0
    output: int = 0
    overhead: int = 0  # the CUDA context and driver reservations
    layers: tuple[int, ...] = ()  # block indices; n_layer stands for the output layer

    @property
    def is_gpu(self) -> bool:
        return self.name != CPU

    @property
    def total(self) -> int:
        return (
            self.weights + self.repack + self.kv_cache + self.compute + self.output + self.overhead
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "weights": self.weights + self.repack,
            "kv_cache": self.kv_cache,
            "compute": self.compute,
            "output": self.output,
            "overhead": self.overhead,
            "total": self.total,
            "layers": list(self.layers),
        }


@dataclass(frozen=True)
class MemoryPlan:
    """A memory plan: the CPU first, then each GPU in order."""

    settings: LoadSettings
    n_layer: int
    devices: tuple[DevicePlan, ...]
    experts_on_cpu: int = 0  # GPU layers whose experts stay in system RAM (n_cpu_moe)
    expert_bytes_on_cpu: int = 0  # those experts' bytes
    approximate: str = ""  # why the numbers are only approximate for this architecture
    refused: str = ""  # why llama.cpp would refuse to load with these settings on these GPUs

    @property
    def cpu(self) -> DevicePlan:
        return self.devices[0]

    @property
    def gpus(self) -> tuple[DevicePlan, ...]:
        return self.devices[1:]

    @property
    def gpu_total(self) -> int:
        return sum(d.total for d in self.gpus)

    @property
    def total(self) -> int:
        return sum(d.total for d in self.devices)

    @property
    def n_gpu_layers(self) -> int:
        return self.settings.gpu_layers_for(self.n_layer) if self.gpus else 0

    @property
    def full_offload(self) -> bool:
        return self.n_gpu_layers == self.n_layer + 1
