"""The settings' fields: types, defaults, bounds and descriptions in one place.

Every section is a frozen dataclass that checks itself when built, so a bad
value raises a ValueError naming the setting and its allowed range, both
from the UI (`dataclasses.replace(settings, theme="blue")`) and from code.
The UI reads `setting_info` to build its controls.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from lmdesk.core.settings.validation import Validated, meta
from lmdesk.core.units import GiB

SplitMode = Literal["none", "layer", "row"]
KvType = Literal["f32", "f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "iq4_nl"]
FlashAttn = Literal["auto"] | bool
Theme = Literal["system", "light", "dark"]
ContextPolicy = Literal["truncate_oldest", "stop"]


def _http_url_or_empty(value: str) -> str | None:
    ok = value.startswith(("http://", "https://")) and len(value) > len("https://")
    return None if ok or value == "" else f"must be an http:// or https:// address, not {value!r}"


def _remote_servers_problem(value: tuple[dict[str, str], ...]) -> str | None:
    from lmdesk.core.remote_engines.server import setting_problem

    return setting_problem(value)


@dataclass(frozen=True)
class LoadDefaults(Validated):
    """How a model is loaded when nothing is remembered for it."""

    n_ctx: int = field(
        default=4096,
        metadata=meta(
            "Context length in tokens: how much text the model sees.", min=128, max=1_048_576
        ),
    )
    n_batch: int = field(
        default=512, metadata=meta("Prompt tokens processed per step.", min=1, max=65_536)
    )
    n_ubatch: int = field(
        default=512,
        metadata=meta("Physical batch; larger needs more compute memory.", min=1, max=65_536),
    )
    kv_type: KvType = field(
        default="f16", metadata=meta("Precision of the KV cache; q8_0 halves its memory.")
    )
    flash_attn: FlashAttn = field(
        default="auto", metadata=meta("Flash attention: 'auto', on or off.")
    )
    use_mmap: bool = field(
        default=True, metadata=meta("Map the model file instead of reading it all into RAM.")
    )
    n_threads: int | None = field(
        default=None,
        metadata=meta("CPU threads; empty: lmdesk's default for this machine.", min=1, max=1024),
    )


@dataclass(frozen=True)
class SamplingDefaults(Validated):
    """How new chats pick tokens."""

    temperature: float = field(
        default=0.7,
        metadata=meta("Randomness: 0 always picks the likeliest token.", min=0.0, max=5.0),
    )
    top_p: float = field(
        default=0.95,
        metadata=meta("Keep the likeliest tokens up to this total probability.", min=0.0, max=1.0),
    )
    top_k: int = field(
        default=40, metadata=meta("Keep only this many likeliest tokens (0: all).", min=0, max=1000)
    )
    min_p: float = field(
        default=0.05,
        metadata=meta(
            "Drop tokens below this share of the top token's probability.", min=0.0, max=1.0
        ),
    )
    repeat_penalty: float = field(
        default=1.1,
        metadata=meta("Discourage repeating recent tokens (1.0: off).", min=0.5, max=2.0),
    )
    max_tokens: int = field(
        default=1024, metadata=meta("Longest reply in tokens.", min=1, max=1_048_576)
    )
    seed: int = field(
        default=-1,
        metadata=meta("Random seed; -1 picks a new one each time.", min=-1, max=2**32 - 1),
    )


@dataclass(frozen=True)
class ModelLoadSettings(Validated):
    """What was last used to load one model file, offered again next time."""

    n_gpu_layers: int = field(
        default=0, metadata=meta("Layers on the GPU (-1: all).", min=-1, max=10_000)
    )
    n_ctx: int = field(
        default=4096, metadata=meta("Context length in tokens.", min=128, max=1_048_576)
    )
    kv_type: KvType = field(default="f16", metadata=meta("Precision of the KV cache."))
    flash_attn: FlashAttn = field(
        default="auto", metadata=meta("Flash attention: 'auto', on or off.")
    )
    gpu: str | None = field(
        default=None, metadata=meta("GPU uuid or name, or a what-if card id; empty: the CPU.")
    )
    n_threads: int | None = field(
        default=None,
        metadata=meta("CPU threads; empty: lmdesk's default for this machine.", min=1, max=1024),
    )
    n_cpu_moe: int = field(
        default=0,
        metadata=meta("Layers whose experts stay in system RAM (MoE models).", min=0, max=10_000),
    )
    split_mode: SplitMode = field(
        default="layer", metadata=meta("Several GPUs: split by 'layer' or 'row', or 'none'.")
    )
    main_gpu: int = field(
        default=0,
        metadata=meta("The GPU that holds the model with split mode 'none'.", min=0, max=63),
    )


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else f"must be a port number from 1 to 65535, not {value}"


@dataclass(frozen=True)
class ServerSettings(Validated):
    """The local API server (OpenAI- and Anthropic-compatible)."""

    port: int = field(default=1234, metadata=meta("Port the API listens on.", check=_port))
    host: str = field(
        default="127.0.0.1",
        metadata=meta("Address to listen on; anything but 127.0.0.1 needs an API key."),
    )
    lan: bool = field(
        default=False,
        metadata=meta("Serve other computers on the network (0.0.0.0; needs an API key)."),
    )
    api_key_file: str = field(
        default="", metadata=meta("File holding the API key; empty: no key (local use only).")
    )
    cors_origins: tuple[str, ...] = field(
        default=(), metadata=meta("Web origins allowed to call the API; empty: CORS off.")
    )
    jit_loading: bool = field(
        default=True, metadata=meta("Load a model in My Models when a request names it.")
    )
    idle_ttl_minutes: int = field(
        default=60,
        metadata=meta("Unload a model idle this long (minutes; 0: never).", min=0, max=10_080),
    )
    log_message_text: bool = field(
        default=False, metadata=meta("Keep the messages' text in the request log.")
    )
    run_at_start: bool = field(
        default=False, metadata=meta("Start the server when lmdesk starts (it was on).")
    )


@dataclass(frozen=True)
class Settings(Validated):
    """All of lmdesk's settings. Build changed copies with `dataclasses.replace`."""

    models_dir: str | None = field(
        default=None, metadata=meta("Folder for downloaded models; empty: lmdesk's data folder.")
    )
    extra_model_dirs: tuple[str, ...] = field(
        default=(), metadata=meta("More folders searched for GGUF files, used in place.")
    )
    rpc_workers: tuple[str, ...] = field(
        default=(),
        metadata=meta("llama.cpp RPC workers (host:port) whose devices lmdesk may use."),
    )
    remote_servers: tuple[dict[str, str], ...] = field(
        default=(),
        metadata=meta(
            "OpenAI-compatible servers (name, base_url, api_key) whose models the chat lists; "
            "the keys are stored here in plain text.",
            check=_remote_servers_problem,
        ),
    )
    hf_endpoint: str = field(
        default="",
        metadata=meta(
            "Hugging Face server or mirror; empty: $HF_ENDPOINT, else huggingface.co.",
            check=_http_url_or_empty,
        ),
    )
    download_concurrency: int = field(
        default=2, metadata=meta("Files downloaded at the same time.", min=1, max=8)
    )
    gpu_safety_margin_bytes: int = field(
        default=GiB,
        metadata=meta("GPU memory kept free when deciding what fits.", min=0, max=8 * GiB),
    )
    theme: Theme = field(
        default="system", metadata=meta("Colours: follow the system, light or dark.")
    )
    context_policy: ContextPolicy = field(
        default="truncate_oldest",
        metadata=meta("When a chat outgrows the context: drop the oldest messages, or stop."),
    )
    load: LoadDefaults = field(
        default_factory=LoadDefaults, metadata=meta("Load settings for models seen the first time.")
    )
    sampling: SamplingDefaults = field(
        default_factory=SamplingDefaults, metadata=meta("Sampling for new chats.")
    )
    server: ServerSettings = field(
        default_factory=ServerSettings, metadata=meta("The local API server.")
    )
    models: dict[str, ModelLoadSettings] = field(
        default_factory=dict, metadata=meta("Load settings remembered per model file.")
    )
    #: Keys written by a newer lmdesk: kept and written back unchanged.
    extra: dict[str, Any] = field(default_factory=dict)
    #: What `load_settings` had to fix or ignore, in words; never saved.
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def remembered(self, model_path: str) -> ModelLoadSettings | None:
        return self.models.get(model_path)

    def remember(self, model_path: str, load: ModelLoadSettings) -> Settings:
        """A copy that remembers `load` for `model_path`."""
        return replace(self, models={**self.models, model_path: load})
