"""A vision projector's (``mmproj``) memory: its weights and its image compute buffer.

libmtmd (llama.cpp's ``tools/mtmd/clip.cpp``) loads every projector tensor into one buffer
on one backend: the first GPU when ``use_gpu`` is set and the build has one (the engine
sets it when any layer is offloaded, as llama-server does), else the CPU. It then reserves
a compute buffer on that backend for a warm-up image of ``clip.vision.image_size`` pixels a
side (``reserve_compute_meta``). Neither depends on the layer slider or the context, so the
projector adds a constant to one device of the text model's plan.

The compute buffer is ggml's graph allocator replayed over clip's graph
(`projector_graph`); checked against libmtmd's log in tests/test_projector_estimate.py.

`plan_with_projector` and `fit_with_projector` are the one step every fit judgement takes
for a model paired with a projector (the load rule, My Models, Discover, the card
comparison, the server pool): the plan counts it, and Auto's layers leave room for it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from ..gguf import GGUFError, GGUFHeader, ModelInfo, read_header
from ..load_settings import LoadSettings
from .estimator import CPU_ALIGNMENT, GPU_ALIGNMENT, GpuTarget, estimate
from .fit import DEFAULT_MARGIN, FitResult, fit
from .plan import DevicePlan, MemoryPlan
from .projector_graph import llava_graph, peak_bytes


class ProjectorError(ValueError):
    """The file is not a vision projector libmtmd can load; ``str()`` says why."""


@dataclass(frozen=True)
class ProjectorInfo:
    """What the estimate needs from a projector's header."""

    name: str
    tensor_bytes: tuple[int, ...]
    image_size: int
    patch_size: int
    n_embd: int
    n_ff: int
    projection_dim: int
    n_layer: int

    @classmethod
    def from_size(cls, name: str, size: int) -> ProjectorInfo:
        """A projector known only by its file size (its header not read yet): the file
        counts as weights, with no compute buffer (`approximate`)."""
        return cls(name, (size,), 0, 0, 0, 0, 0, 0)

    @property
    def approximate(self) -> bool:
        """Known from the file size alone (`from_size`)."""
        return self.image_size == 0

    @property
    def file_bytes(self) -> int:
        return sum(self.tensor_bytes)

    def weights(self, alignment: int) -> int:
        """Bytes of the weights buffer: each tensor padded to the backend's alignment."""
        return sum(-(-n // alignment) * alignment for n in self.tensor_bytes)

    def compute(self, alignment: int = CPU_ALIGNMENT) -> int:
        """Bytes of the compute buffer libmtmd reserves for its warm-up image."""
        if self.approximate:
            return 0
        return _compute(
            self.image_size,
            self.patch_size,
            self.n_embd,
            self.n_ff,
            self.projection_dim,
            self.n_layer,
            alignment,
        )

    def inputs(self, alignment: int = CPU_ALIGNMENT) -> int:
        """Bytes the CPU keeps for the graph's inputs when the tower runs on a GPU (ggml's
        scheduler puts inputs on the CPU and copies them over): the warm-up image, its
        positions and patch indices."""
        if self.approximate:
            return 0
        side = self.image_size // self.patch_size
        sizes = (self.image_size * self.image_size * 3 * 4, (side * side + 1) * 4, side * side * 4)
        return sum(-(-n // alignment) * alignment for n in sizes)


@lru_cache(maxsize=64)
def _compute(
    image: int,
    patch: int,
    n_embd: int,
    n_ff: int,
    projection_dim: int,
    n_layer: int,
    alignment: int,
) -> int:
    graph = llava_graph(
        image=image,
        patch=patch,
        n_embd=n_embd,
        n_ff=n_ff,
        projection_dim=projection_dim,
        n_layer=n_layer,
    )
    return peak_bytes(graph, alignment)


def projector_info(header: GGUFHeader) -> ProjectorInfo:
    """A parsed header as a projector; `ProjectorError` when it is no vision projector."""
    meta = header.metadata
    label = os.path.basename(header.path or "") or "this file"
    if meta.get("general.architecture") != "clip" or not meta.get("clip.has_vision_encoder"):
        raise ProjectorError(f"{label} is not a vision projector (mmproj) file.")

    def number(key: str) -> int:
        value = meta.get(f"clip.vision.{key}")
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 1 << 20:
            raise ProjectorError(f"{label}: clip.vision.{key} is missing or out of range.")
        return value

    patch = number("patch_size")
    image = number("image_size")
    if image < patch:
        raise ProjectorError(f"{label}: its image size {image} is smaller than a patch {patch}.")
    return ProjectorInfo(
        name=label,
        tensor_bytes=tuple(t.n_bytes for t in header.tensors),
        image_size=image,
        patch_size=patch,
        n_embd=number("embedding_length"),
        n_ff=number("feed_forward_length"),
        projection_dim=number("projection_dim"),
        n_layer=number("block_count"),
    )


def read_projector(path: str | os.PathLike[str]) -> ProjectorInfo:
    """Read a projector file's header (no tensor data); `ProjectorError` if it is none."""
    try:
        header = read_header(path)
    except (GGUFError, OSError) as exc:
        raise ProjectorError(f"{os.path.basename(path)} could not be read: {exc}") from exc
    return projector_info(header)


def projector_or_none(path: str | os.PathLike[str] | None) -> ProjectorInfo | None:
    """`read_projector` for a settings' ``mmproj``; None when unset or unreadable (the engine
    then says why when it loads)."""
    if not path:
        return None
    try:
        return _read_cached(str(path), os.stat(path).st_mtime_ns)
    except (OSError, ProjectorError):
        return None


@lru_cache(maxsize=16)
def _read_cached(path: str, _mtime_ns: int) -> ProjectorInfo:
    return read_projector(path)


def projector_on_gpu(plan: MemoryPlan) -> bool:
    """libmtmd's rule as the engine applies it: the first GPU when any layer is offloaded."""
    return bool(plan.gpus) and plan.n_gpu_layers > 0


def gpu_bytes(projector: ProjectorInfo | None, *, alignment: int = GPU_ALIGNMENT) -> int:
    """What the projector takes on a GPU it is offloaded to (for fit()'s budget)."""
    if projector is None:
        return 0
    return projector.weights(alignment) + projector.compute(alignment)  # inputs: on the CPU


def with_projector(plan: MemoryPlan, projector: ProjectorInfo | None) -> MemoryPlan:
    """``plan`` with the projector's weights and compute buffer on the device libmtmd uses
    (on a GPU, the CPU also holds the graph's inputs: `ProjectorInfo.inputs`)."""
    if projector is None:
        return plan
    index = 1 if projector_on_gpu(plan) else 0
    device = plan.devices[index]
    alignment = GPU_ALIGNMENT if device.is_gpu else CPU_ALIGNMENT
    grown: DevicePlan = replace(
        device,
        weights=device.weights + projector.weights(alignment),
        compute=device.compute + projector.compute(alignment),
    )
    devices = [*plan.devices[:index], grown, *plan.devices[index + 1 :]]
    if device.is_gpu:  # the inputs stay on the CPU, copied to the GPU for each image
        cpu = devices[0]
        devices[0] = replace(cpu, compute=cpu.compute + projector.inputs(CPU_ALIGNMENT))
    return replace(plan, devices=tuple(devices))


def plan_with_projector(
    model: ModelInfo,
    settings: LoadSettings,
    gpus: Sequence[GpuTarget],
    projector: ProjectorInfo | None,
) -> MemoryPlan:
    """What loading `model` with `settings` takes with its projector (None: no projector)."""
    return with_projector(estimate(model, settings, gpus), projector)


def fit_with_projector(
    model: ModelInfo,
    settings: LoadSettings,
    projector: ProjectorInfo | None,
    *,
    gpu_free: int,
    margin: int = DEFAULT_MARGIN,
    gpu_name: str = "GPU 0",
) -> FitResult:
    """`fit` on one GPU for a model paired with `projector`: the layers leave room for the
    projector on that GPU (libmtmd puts it there once any layer is), and the plan counts it
    (`plan_with_projector`)."""
    result = fit(
        model, settings, gpu_free=gpu_free - gpu_bytes(projector), margin=margin, gpu_name=gpu_name
    )
    if projector is None:
        return result
    chosen = settings.with_changes(n_gpu_layers=result.n_gpu_layers, n_cpu_moe=result.n_cpu_moe)
    plan = plan_with_projector(model, chosen, [GpuTarget(gpu_name)], projector)
    return replace(result, plan=plan)
