"""How a model is loaded: settings the Load panel edits, the estimator reads and the engine uses.

One frozen dataclass shared by `core.estimate` (what will this cost?) and
`core.engine` (load it), so the number on the memory bar and the model that
gets loaded cannot drift apart. This module imports nothing from llama.cpp:
the estimator and the UI use it without loading the native library.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .rpc_worker import parse_endpoint


@dataclass(frozen=True)
class KVCacheType:
    """A type the KV cache can be stored in; sizes as ggml lays the blocks out."""

    name: str
    ggml_type: int
    block_size: int
    """Elements per block."""
    type_size: int
    """Bytes per block."""

    @property
    def bytes_per_element(self) -> float:
        return self.type_size / self.block_size

    @property
    def quantized(self) -> bool:
        return self.block_size > 1


# The cache types llama.cpp accepts for --cache-type-k/-v (ggml.h type ids).
KV_CACHE_TYPES: dict[str, KVCacheType] = {
    t.name: t
    for t in (
        KVCacheType("f32", 0, 1, 4),
        KVCacheType("f16", 1, 1, 2),
        KVCacheType("bf16", 30, 1, 2),
        KVCacheType("q8_0", 8, 32, 34),
        KVCacheType("q4_0", 2, 32, 18),
        KVCacheType("q4_1", 3, 32, 20),
        KVCacheType("iq4_nl", 20, 32, 18),
        KVCacheType("q5_0", 6, 32, 22),
        KVCacheType("q5_1", 7, 32, 24),
    )
}

ALL_LAYERS = -1
"""`n_gpu_layers` value meaning "every layer, the output layer included"."""

SPLIT_MODES: dict[str, str] = {
    "none": "one GPU only: the main GPU holds every offloaded layer",
    "layer": "whole layers and their KV cache per GPU, by the tensor split",
    "row": "each layer's matrices cut by rows over the GPUs (needs split buffers)",
}
"""llama.cpp's split modes (LLAMA_SPLIT_MODE_NONE / _LAYER / _ROW), by the names its
``--split-mode`` takes."""
SPLIT_MODE_IDS = {"none": 0, "layer": 1, "row": 2}
"""Their values in llama.h's ``enum llama_split_mode``."""


@dataclass(frozen=True)
class LoadSettings:
    """Everything that decides how much memory a loaded model takes, and where.

    ``n_gpu_layers`` counts from the output layer down (llama.cpp offloads the
    output layer first; see DESIGN.md), so its range is ``0..n_layer + 1``;
    ``-1`` means all. ``flash_attn=None`` lets llama.cpp decide (auto).
    ``n_threads=None`` takes `core.cpu_threads`'s default for this machine;
    a number sets llama.cpp's generation and prompt threads alike.
    ``seed`` is the default sampling seed when a reply does not set one
    (``None``: a fresh random seed per reply).
    """

    n_gpu_layers: int = 0
    n_ctx: int = 4096
    n_batch: int = 512
    n_ubatch: int = 512
    type_k: str = "f16"
    type_v: str = "f16"
    flash_attn: bool | None = None
    offload_kqv: bool = True
    use_mmap: bool = True
    use_mlock: bool = False
    n_threads: int | None = None
    seed: int | None = None
    swa_full: bool = True
    """Full-size caches for sliding-window layers (llama.cpp's default)."""
    tensor_split: tuple[float, ...] | None = None
    """Share of the offloaded layers per GPU; None splits by free memory."""
    mmproj: str | None = None
    """A vision projector file to load beside the model (images in the chat), or None."""
    n_cpu_moe: int = 0
    """The experts of the first N layers stay in system RAM (llama.cpp's ``--n-cpu-moe``)."""
    rpc: tuple[str, ...] = ()
    """`lmdesk worker` addresses (host:port) whose devices come after the local GPUs."""
    split_mode: str = "layer"
    """How the offloaded layers spread over several GPUs: a key of `SPLIT_MODES`."""
    main_gpu: int = 0
    """The GPU that holds everything with split mode "none" (llama.cpp's ``--main-gpu``):
    its place among the devices the load uses."""
    gpus: tuple[int, ...] = ()
    """The local GPUs the load may use, by number (as NVML and ``nvidia-smi`` count them);
    empty: all of them (llama.cpp's default, and its ``--device``). A plan for one card of
    several names it here, or llama.cpp would spread the layers over every GPU."""

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))

    def problems(self) -> list[str]:
        """Why these settings cannot be loaded, in words; empty when they can."""
        out: list[str] = []
        if self.n_gpu_layers < ALL_LAYERS:
            out.append(f"n_gpu_layers must be -1 (all) or at least 0, not {self.n_gpu_layers}")
        if self.n_ctx < 1:
            out.append(f"the context must hold at least 1 token, not {self.n_ctx}")
        if self.n_batch < 1 or self.n_ubatch < 1:
            out.append("the batch sizes must be at least 1")
        elif self.n_ubatch > self.n_batch:
            out.append(
                f"the micro-batch ({self.n_ubatch}) cannot be larger than "
                f"the batch ({self.n_batch})"
            )
        for label, name in (("K", self.type_k), ("V", self.type_v)):
            if name not in KV_CACHE_TYPES:
                choices = ", ".join(KV_CACHE_TYPES)
                out.append(f"unknown {label} cache type {name!r} (choose one of {choices})")
        value_type = KV_CACHE_TYPES.get(self.type_v)
        if value_type is not None and value_type.quantized and self.flash_attn is False:
            out.append(
                f"a quantized V cache ({self.type_v}) needs flash attention: "
                "turn flash attention on or Auto, or keep the V cache at f16"
            )
        if self.n_cpu_moe < 0:
            out.append(f"the layers with experts on the CPU cannot be negative ({self.n_cpu_moe})")
        if self.tensor_split is not None and (
            not self.tensor_split
            or any(not 0 <= share < float("inf") for share in self.tensor_split)
        ):
            shown = ",".join(f"{share:g}" for share in self.tensor_split)
            out.append(
                f"a tensor split needs one share of 0 or more per GPU, not {shown or 'none'}"
            )
        for endpoint in self.rpc:
            try:
                parse_endpoint(endpoint)
            except ValueError as exc:
                out.append(str(exc))
        if len(set(self.rpc)) != len(self.rpc):
            out.append("a worker is named twice in the RPC list")
        if self.split_mode not in SPLIT_MODES:
            out.append(
                f"unknown split mode {self.split_mode!r} (choose one of {', '.join(SPLIT_MODES)})"
            )
        if self.main_gpu < 0:
            out.append(f"the main GPU is a GPU's number, 0 or more, not {self.main_gpu}")
        if any(gpu < 0 for gpu in self.gpus) or len(set(self.gpus)) != len(self.gpus):
            shown = ",".join(str(gpu) for gpu in self.gpus)
            out.append(f"the GPUs to use are distinct numbers, 0 or more, not {shown}")
        if self.n_threads is not None and self.n_threads < 1:
            out.append(f"n_threads must be at least 1, not {self.n_threads}")
        if self.seed is not None and not 0 <= self.seed < 2**32:
            out.append(f"the seed must fit in 32 bits, not {self.seed}")
        return out

    @property
    def effective_n_ubatch(self) -> int:
        """llama.cpp never runs a micro-batch larger than the batch."""
        return min(self.n_ubatch, self.n_batch)

    def gpu_layers_for(self, n_layer: int) -> int:
        """The offloaded layer count for a model of ``n_layer`` blocks (-1 means all)."""
        if self.n_gpu_layers == ALL_LAYERS:
            return n_layer + 1
        return min(self.n_gpu_layers, n_layer + 1)

    def with_changes(self, **changes: Any) -> LoadSettings:
        return replace(self, **changes)

    @property
    def kv_type_k(self) -> KVCacheType:
        return KV_CACHE_TYPES[self.type_k]

    @property
    def kv_type_v(self) -> KVCacheType:
        return KV_CACHE_TYPES[self.type_v]

    def to_llama_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``llama_cpp.Llama(model_path, **kwargs)``.

        The high-level ``Llama`` class only knows flash attention on or off,
        so Auto (``None``) becomes off here; lmdesk's engine builds the native
        parameters itself (`core.engine.loader`) and keeps Auto. ``Llama`` has no way to
        keep experts on the CPU either: settings with ``n_cpu_moe`` are refused here rather
        than silently loaded differently.
        """
        if self.rpc:
            raise ValueError(
                "llama_cpp.Llama cannot place layers on RPC workers; load with lmdesk's engine"
            )
        if self.n_cpu_moe:
            raise ValueError(
                "llama_cpp.Llama cannot keep experts on the CPU (n_cpu_moe); "
                "load with lmdesk's engine instead"
            )
        if len(self.gpus) > 1:
            raise ValueError(
                "llama_cpp.Llama cannot be given a list of GPUs; load with lmdesk's engine"
            )
        kwargs: dict[str, Any] = {
            "n_gpu_layers": self.n_gpu_layers,
            "n_ctx": self.n_ctx,
            "n_batch": self.n_batch,
            "n_ubatch": self.n_ubatch,
            "type_k": self.kv_type_k.ggml_type,
            "type_v": self.kv_type_v.ggml_type,
            "flash_attn": self.flash_attn is True,
            "offload_kqv": self.offload_kqv,
            "use_mmap": self.use_mmap,
            "use_mlock": self.use_mlock,
            "swa_full": self.swa_full,
        }
        if self.tensor_split:
            kwargs["tensor_split"] = list(self.tensor_split)
        if self.gpus:  # one card of several: the same as that card as the only main GPU
            kwargs["split_mode"] = SPLIT_MODE_IDS["none"]
            kwargs["main_gpu"] = self.gpus[0]
        elif self.split_mode != "layer" or self.main_gpu:
            kwargs["split_mode"] = SPLIT_MODE_IDS[self.split_mode]
            kwargs["main_gpu"] = self.main_gpu
        from .cpu_threads import threads_for  # psutil: not needed to paint the window

        threads = threads_for(self.n_threads)
        kwargs["n_threads"] = threads.generation
        kwargs["n_threads_batch"] = threads.batch
        if self.seed is not None:
            kwargs["seed"] = self.seed
        return kwargs
