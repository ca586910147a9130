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

from .errors import GGUFError
from .header import GGUFHeader, TensorInfo

_LAYER_RE = re.compile(r"^blk\.(\d+)\.")
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
    """Derive a `ModelInfo` from a header; raises GGUFError if essential keys are missing."""
    meta = header.metadata
    arch = _text(meta, "general.architecture")
    n_layer = _int(meta, f"{arch}.block_count")
    n_embd = _int(meta, f"{arch}.embedding_length")
    n_head = _per_layer(meta, f"{arch}.attention.head_count", n_layer, default=0)
    n_head_kv = _per_layer(meta, f"{arch}.attention.head_count_kv", n_layer, default=None)
    if n_head_kv is None or (all(h == 0 for h in n_head_kv) and n_head):
        n_head_kv = n_head
    max_heads = max(n_head, default=0)
    head_dim = n_embd // max_heads if max_heads else 0
    names = {t.name for t in header.tensors}
    n_swa = int(meta.get(f"{arch}.attention.sliding_window", 0) or 0)
    return ModelInfo(
        architecture=arch,
        name=str(meta.get("general.name") or _basename(header)),
        size_label=meta.get("general.size_label"),
        parameter_count=sum(t.n_elements for t in header.tensors),
        quantization=quantization_label(header),
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=n_head_kv,
        head_dim_k=int(meta.get(f"{arch}.attention.key_length", head_dim)),
        head_dim_v=int(meta.get(f"{arch}.attention.value_length", head_dim)),
        n_ctx_train=int(meta.get(f"{arch}.context_length", 0) or 0),
        n_swa=n_swa,
        swa_layers=_swa_layers(meta, arch, n_layer, n_swa),
        n_vocab=_vocab_size(meta, arch, header),
        chat_template=meta.get("tokenizer.chat_template") or None,
        tied_embeddings="output.weight" not in names and "token_embd.weight" in names,
        n_expert=int(meta.get(f"{arch}.expert_count", 0) or 0),
        n_expert_used=int(meta.get(f"{arch}.expert_used_count", 0) or 0),
        n_ff=_ffn_width(header.tensors, int(meta.get(f"{arch}.expert_used_count", 0) or 0), n_embd),
        tensors=header.tensors,
        file_size=header.file_size or header.expected_file_size,
        data_offset=header.data_offset,
        is_complete=header.is_complete,
    )


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
    if isinstance(meta.get(f"{arch}.vocab_size"), int):
        return int(meta[f"{arch}.vocab_size"])
    embd = next((t for t in header.tensors if t.name == "token_embd.weight"), None)
    return embd.shape[-1] if embd else 0


def _ffn_width(tensors: tuple[TensorInfo, ...], n_expert_used: int, n_embd: int) -> int:
    for tensor in tensors:
        if tensor.name == "blk.0.ffn_up.weight" and len(tensor.shape) >= 2:
            return tensor.shape[1]
        if tensor.name == "blk.0.ffn_up_exps.weight" and len(tensor.shape) >= 2:
            return tensor.shape[1] * max(n_expert_used, 1)
    return 4 * n_embd


def _per_layer(meta: dict[str, Any], key: str, n_layer: int, default: int | None) -> Any:
    value = meta.get(key, default)
    if value is None:
        return None
    if isinstance(value, list):
        if len(value) != n_layer:
            raise GGUFError(f"{key} lists {len(value)} layers, the model has {n_layer}")
        return tuple(int(v) for v in value)
    return (int(value),) * n_layer


def _text(meta: dict[str, Any], key: str) -> str:
    value = meta.get(key)
    if not isinstance(value, str) or not value:
        raise GGUFError(f"the header has no {key}; this is not a model llama.cpp can load")
    return value


def _int(meta: dict[str, Any], key: str) -> int:
    value = meta.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise GGUFError(f"the header has no valid {key}")
    return value


def _basename(header: GGUFHeader) -> str:
    from pathlib import Path

    return Path(header.path).stem if header.path else "unnamed model"
