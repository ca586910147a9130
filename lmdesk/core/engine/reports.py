"""What a load and an unload did: the model's facts and the memory it took and gave back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..cpu_threads import ThreadCounts
from ..load_settings import LoadSettings
from ..reasoning import ThinkingSwitches
from .template_guess import TemplateChoice


@dataclass(frozen=True)
class LoadReport:
    path: Path
    settings: LoadSettings
    load_s: float
    rss_before: int
    """This process's resident memory before the load, in bytes."""
    rss_after: int
    description: str
    """llama.cpp's one-line description, e.g. ``llama 135M Q4_1``."""
    architecture: str
    name: str
    """``general.name`` from the file ('' when absent)."""
    n_ctx: int
    """The context llama.cpp allocated (it rounds the request up to a multiple of 256)."""
    n_ctx_train: int
    n_layer: int
    n_params: int
    size_bytes: int
    has_builtin_template: bool
    chat_template: str
    """The template in use: "gguf", a built-in's name, or "completion"."""
    template_choice: TemplateChoice | None
    """Why a built-in template was picked, when the file has none (say so in the UI)."""
    allocations: tuple[str, ...]
    """llama.cpp's "... buffer size = N MiB" log lines: what it really allocated, per buffer."""
    threads: ThreadCounts
    """The CPU threads llama.cpp's context got at load (read back from it); on Auto the
    engine re-picks them before each reply (`cpu_threads.threads_now`)."""
    template_source: str = ""
    """The file's own Jinja chat template ('' when it has none): for the template preview."""
    bos_token: str = ""
    eos_token: str = ""
    thinking: ThinkingSwitches = field(default_factory=ThinkingSwitches)
    """The thinking switches the file's template reads (``enable_thinking``, ...)."""
    projector: str = ""
    """The vision projector loaded beside the model ('' for none): it reads images."""
    model_sampling: dict[str, float] = field(default_factory=dict)
    """The sampling the model's makers recommend in the file (`sampling.model_card_sampling`)."""
    remote_server: str = ""
    """The OpenAI-compatible server that runs the model ('' for a file on this machine); its
    ``path`` is then ``Path("server / model id")`` (`core.remote_engines`)."""

    @property
    def rss_growth(self) -> int:
        return self.rss_after - self.rss_before


@dataclass(frozen=True)
class UnloadReport:
    rss_before: int
    rss_after: int

    @property
    def freed(self) -> int:
        return self.rss_before - self.rss_after
