"""What a GGUF header says about the model: shape, attention, vocabulary and sizes.

`ModelInfo` is the one description the estimator, the library and the browser
use. It is derived from metadata and tensor infos only.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from gguf import GGMLQuantizationType, LlamaFileType

# Names, not `from . import checked`: that waits for this package's lock, while a thread
# importing the package (the inference worker, at start) waits for this module's; Python
# breaks that deadlock with a half-imported module, an ImportError for one of them.
from .checked import (
    MAX_CONTEXT,
    MAX_EMBD,
    MAX_EXPERTS,
    MAX_HEAD_DIM,
    MAX_HEADS,
    MAX_LAYERS,
    MAX_VOCAB,
    finite,
    per_layer,
    shown,
    text,
    whole,
)
from .errors import GGUFError, MissingKeyError
from .header import GGUFHeader, TensorInfo

_LAYER_RE = re.compile(r"^blk\.(\d+)\.")
MAX_ARCH_NAME = 64
OUTPUT_TENSORS = ("output.weight", "output.bias", "output_norm.weight", "output_norm.bias")

# Sliding-window layer patterns this llama.cpp applies when the GGUF gives none:
# (every n-th layer is dense, dense layer first?) per architecture.
_SWA_PATTERNS: dict[str, tuple[int, bool]] = {
    "gemma2": (2, False),
    "gemma3": (6, False),
    "gemma3n": (5, False),
    "cohere2": (4, False),
    "exaone4": (4, False),
    "afmoe": (4, False),
    "gpt-oss": (2, False),
}


@dataclass(frozen=True, eq=False)  # identity hash: estimates cache per-model indexes
class ModelInfo:
    """A model as far as memory and the UI care; all sizes in bytes."""

    architecture: str
    name: str
    size_label: str | None
    parameter_count: int
    quantization: str
    n_layer: int
    n_embd: int
    n_head: tuple[int, ...]  # per layer
    n_head_kv: tuple[int, ...]  # per layer
    head_dim_k: int
    head_dim_v: int
    n_ctx_train: int
    n_swa: int  # sliding window in tokens, 0 when none
    swa_layers: tuple[bool, ...]  # per layer: uses the sliding window
    n_vocab: int
    chat_template: str | None
    tied_embeddings: bool
    n_expert: int
    n_expert_used: int
    n_ff: int  # feed-forward rows per token: n_ff, or the used experts' rows
    tensors: tuple[TensorInfo, ...]
    file_size: int
    data_offset: int
    is_complete: bool | None

    @property
    def has_chat_template(self) -> bool:
        return bool(self.chat_template)

    def layer_tensors(self, il: int) -> tuple[TensorInfo, ...]:
        prefix = f"blk.{il}."
        return tuple(t for t in self.tensors if t.name.startswith(prefix))

    @property
    def layer_bytes(self) -> tuple[int, ...]:
        sizes = [0] * self.n_layer
        for tensor in self.tensors:
            il = block_index(tensor.name)
            if il is not None and il < self.n_layer:
                sizes[il] += tensor.n_bytes
        return tuple(sizes)

    @property
    def output_tensors(self) -> tuple[TensorInfo, ...]:
        return tuple(t for t in self.tensors if t.name in OUTPUT_TENSORS)

    @property
    def input_tensors(self) -> tuple[TensorInfo, ...]:
        """Tensors outside the repeating blocks and the output layer (token_embd and kin)."""
        return tuple(
            t for t in self.tensors if block_index(t.name) is None and t.name not in OUTPUT_TENSORS
        )

    @property
    def input_bytes(self) -> int:
        return sum(t.n_bytes for t in self.input_tensors)

    @property
    def output_bytes(self) -> int:
        """The output layer's bytes; with tied embeddings, the token_embd copy it loads."""
        own = sum(t.n_bytes for t in self.output_tensors)
        if self.tied_embeddings:
            own += self.token_embd.n_bytes if self.token_embd else 0
        return own

    @property
    def token_embd(self) -> TensorInfo | None:
        return next((t for t in self.tensors if t.name == "token_embd.weight"), None)

    @property
    def weights_bytes(self) -> int:
        return sum(t.n_bytes for t in self.tensors)

    def n_embd_k_gqa(self, il: int) -> int:
        return self.head_dim_k * self.n_head_kv[il]

    def n_embd_v_gqa(self, il: int) -> int:
        return self.head_dim_v * self.n_head_kv[il]


def block_index(tensor_name: str) -> int | None:
    """The repeating block a tensor belongs to (``blk.12.attn_q.weight`` -> 12), else None."""
    match = _LAYER_RE.match(tensor_name)
    return int(match.group(1)) if match else None


def describe(header: GGUFHeader) -> ModelInfo:
    """Derive a `ModelInfo` from a header.

    Raises GGUFError, naming the key, if an essential key is missing or any number
    the estimator or llama.cpp relies on has the wrong type or an impossible value.
    """
    meta = header.metadata
    arch = _architecture(meta)
    n_layer = whole(meta, f"{arch}.block_count", default=None, low=1, high=MAX_LAYERS)
    n_embd = whole(meta, f"{arch}.embedding_length", default=None, low=1, high=MAX_EMBD)
    heads = f"{arch}.attention.head_count"
    n_head = per_layer(meta, heads, n_layer, default=0, high=MAX_HEADS) or ()
    n_head_kv = per_layer(meta, f"{heads}_kv", n_layer, default=None, high=MAX_HEADS)
    if n_head_kv is None or (all(h == 0 for h in n_head_kv) and n_head):
        n_head_kv = n_head
    max_heads = max(n_head, default=0)
    head_dim = n_embd // max_heads if max_heads else 0
    names = {t.name for t in header.tensors}
    _check_norm_epsilons(meta, arch)
    n_swa = _count(meta, f"{arch}.attention.sliding_window", MAX_CONTEXT)
    n_expert = _count(meta, f"{arch}.expert_count", MAX_EXPERTS)
    n_expert_used = _count(meta, f"{arch}.expert_used_count", max(n_expert, 1))
    return ModelInfo(
        architecture=arch,
        name=text(meta, "general.name") or _basename(header),
        size_label=text(meta, "general.size_label"),
        parameter_count=sum(t.n_elements for t in header.tensors),
        quantization=quantization_label(header),
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=n_head_kv,
        head_dim_k=_count(meta, f"{arch}.attention.key_length", MAX_HEAD_DIM, head_dim),
        head_dim_v=_count(meta, f"{arch}.attention.value_length", MAX_HEAD_DIM, head_dim),
        n_ctx_train=_count(meta, f"{arch}.context_length", MAX_CONTEXT),
        n_swa=n_swa,
        swa_layers=_swa_layers(meta, arch, n_layer, n_swa),
        n_vocab=_vocab_size(meta, arch, header),
        chat_template=text(meta, "tokenizer.chat_template"),
        tied_embeddings="output.weight" not in names and "token_embd.weight" in names,
        n_expert=n_expert,
        n_expert_used=n_expert_used,
        n_ff=_ffn_width(header.tensors, n_expert_used, n_embd),
        tensors=header.tensors,
        file_size=header.file_size or header.expected_file_size,
        data_offset=header.data_offset,
        is_complete=header.is_complete,
    )


def _count(meta: dict[str, Any], key: str, high: int, default: int = 0) -> int:
    return whole(meta, key, default=default, low=0, high=high)


def _check_norm_epsilons(meta: dict[str, Any], arch: str) -> None:
    """llama.cpp asserts on a NaN or infinite epsilon: refuse it here, before it loads."""
    for key in ("layer_norm_rms_epsilon", "layer_norm_epsilon"):
        finite(meta, f"{arch}.attention.{key}", low=0.0, high=1.0)


def quantization_label(header: GGUFHeader) -> str:
    """``Q4_K_M`` and the like: from general.file_type, else the commonest weight type."""
    file_type = header.metadata.get("general.file_type")
    if isinstance(file_type, int):
        try:
            return LlamaFileType(file_type).name.removeprefix("MOSTLY_")
        except ValueError:
            pass
    matrices = Counter(t.ggml_type for t in header.tensors if len(t.shape) >= 2)
    if not matrices:
        return "unknown"
    return GGMLQuantizationType(matrices.most_common(1)[0][0]).name


def _swa_layers(meta: dict[str, Any], arch: str, n_layer: int, n_swa: int) -> tuple[bool, ...]:
    if n_swa <= 0:
        return (False,) * n_layer
    pattern = meta.get(f"{arch}.attention.sliding_window_pattern")
    if isinstance(pattern, list) and len(pattern) == n_layer:
        return tuple(bool(x) for x in pattern)
    every, dense_first = _SWA_PATTERNS.get(arch, (0, False))
    if isinstance(pattern, int):
        every = pattern
    if every <= 0:
        return (True,) * n_layer
    if dense_first:
        return tuple(il % every != 0 for il in range(n_layer))
    return tuple(il % every < every - 1 for il in range(n_layer))


def _vocab_size(meta: dict[str, Any], arch: str, header: GGUFHeader) -> int:
    tokens = meta.get("tokenizer.ggml.tokens")
    if isinstance(tokens, list):
        return len(tokens)
    if f"{arch}.vocab_size" in meta:
        return whole(meta, f"{arch}.vocab_size", default=0, low=0, high=MAX_VOCAB)
    embd = next((t for t in header.tensors if t.name == "token_embd.weight"), None)
    return embd.shape[-1] if embd else 0


def _ffn_width(tensors: tuple[TensorInfo, ...], n_expert_used: int, n_embd: int) -> int:
    for tensor in tensors:
        if tensor.name == "blk.0.ffn_up.weight" and len(tensor.shape) >= 2:
            return tensor.shape[1]
        if tensor.name == "blk.0.ffn_up_exps.weight" and len(tensor.shape) >= 2:
            return tensor.shape[1] * max(n_expert_used, 1)
    return 4 * n_embd


def _architecture(meta: dict[str, Any]) -> str:
    key = "general.architecture"
    value = text(meta, key)
    if value is None:
        raise MissingKeyError(f"the header has no {key}; this is not a model llama.cpp can load")
    if len(value) > MAX_ARCH_NAME or not value.isprintable():
        raise GGUFError(f"{key} is not an architecture name: {shown(value)}")
    return value


def _basename(header: GGUFHeader) -> str:
    from pathlib import Path

    return Path(header.path).stem if header.path else "unnamed model"
