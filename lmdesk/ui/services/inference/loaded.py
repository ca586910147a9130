"""What the GUI knows about the loaded model: the engine's report plus the facts it needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lmdesk.core.engine import LoadReport


@dataclass(frozen=True)
class LoadedModel:
    """Built on the worker thread right after a load; plain data, safe to hand to the GUI."""

    report: LoadReport
    templates: tuple[str, ...]
    """Names the engine accepts as chat template ("gguf" first when the file has one)."""
    gpu_offload: bool
    """Whether this llama.cpp build can put layers on a GPU at all."""

    @property
    def path(self) -> Path:
        return self.report.path

    @property
    def n_ctx(self) -> int:
        return self.report.n_ctx

    @property
    def has_builtin_template(self) -> bool:
        return self.report.has_builtin_template

    @property
    def gpu_layers(self) -> int:
        """Layers llama.cpp put on the GPU (0 on a CPU-only build)."""
        if not self.gpu_offload:
            return 0
        return self.report.settings.gpu_layers_for(self.report.n_layer)

    @property
    def layer_slots(self) -> int:
        """The slider's top: every block plus the output layer."""
        return self.report.n_layer + 1
