"""What a layer caches besides plain attention, read from the tensors llama.cpp creates.

- Multi-head latent attention (DeepSeek V2/V3, ``attn_k_b`` present): the cache holds the
  compressed latent and the rope part as K (key_length = kv_lora_rank + rope dims) and no V
  at all: llama.cpp reads V as a view of K (``llama-kv-cache.cpp``: ``has_v = !is_mla``).
- Recurrent blocks keep a state per sequence instead of cells (``llama-memory-recurrent.cpp``):
  R, the convolution's last ``d_conv - 1`` columns, and S, the scan state, both f32, one row
  each per sequence (lmdesk runs one). LFM2's short convolution has R only
  (``(l_cache - 1) * n_embd``); Mamba's R is ``(d_conv - 1) * (d_inner + 2 * n_group * d_state)``
  and S ``d_state * d_inner``.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from ..gguf.header import TensorInfo
from ..gguf.model import ModelInfo, block_index

F32 = 4
_STATE: WeakKeyDictionary[ModelInfo, tuple[int, ...]] = WeakKeyDictionary()
_MLA: WeakKeyDictionary[ModelInfo, bool] = WeakKeyDictionary()
_EXPERT_ROWS: WeakKeyDictionary[ModelInfo, int] = WeakKeyDictionary()


def is_mla(model: ModelInfo) -> bool:
    """Does ``model`` cache a latent (K only) rather than per-head K and V?"""
    cached = _MLA.get(model)
    if cached is None:
        cached = _MLA[model] = any(t.name.endswith(".attn_k_b.weight") for t in model.tensors)
    return cached


def expert_rows(model: ModelInfo) -> int:
    """Feed-forward rows of one expert (0 without experts): ``ffn_up_exps``' second dimension."""
    cached = _EXPERT_ROWS.get(model)
    if cached is None:
        up = (t for t in model.tensors if t.name.endswith(".ffn_up_exps.weight"))
        cached = _EXPERT_ROWS[model] = next((t.shape[1] for t in up if len(t.shape) >= 2), 0)
    return cached


def recurrent_state_bytes(model: ModelInfo) -> tuple[int, ...]:
    """Bytes of each layer's recurrent state for one sequence (0 for attention layers)."""
    cached = _STATE.get(model)
    if cached is None:
        cached = _STATE[model] = _state_per_layer(model)
    return cached


def _state_per_layer(model: ModelInfo) -> tuple[int, ...]:
    by_layer: dict[int, dict[str, TensorInfo]] = {}
    for tensor in model.tensors:
        il = block_index(tensor.name)
        if il is not None and il < model.n_layer:
            kind = tensor.name.split(".", 2)[2].removesuffix(".weight")
            by_layer.setdefault(il, {})[kind] = tensor
    return tuple(_layer_state(by_layer.get(il, {})) for il in range(model.n_layer))


def _layer_state(tensors: dict[str, TensorInfo]) -> int:
    conv = tensors.get("shortconv.conv")
    if conv is not None and len(conv.shape) >= 2:  # LFM2: {l_cache, n_embd}
        return (conv.shape[0] - 1) * conv.shape[1] * F32
    conv = tensors.get("ssm_conv1d")
    if conv is None or len(conv.shape) < 2:
        return 0
    d_conv, channels = conv.shape[0], conv.shape[1]
    r = (d_conv - 1) * channels
    a, out = tensors.get("ssm_a"), tensors.get("ssm_out")
    d_inner = out.shape[0] if out is not None else channels
    if a is not None and len(a.shape) == 2 and a.shape[0] > 1:  # Mamba 1: A is {d_state, d_inner}
        return (r + a.shape[0] * d_inner) * F32
    norm = tensors.get("ssm_norm")  # Mamba 2: {d_inner / n_group, n_group}
    n_group = norm.shape[1] if norm is not None and len(norm.shape) == 2 else 1
    d_state = (channels - d_inner) // (2 * n_group) if channels > d_inner else 0
    return (r + d_state * d_inner) * F32
