"""KV cache sizes, cell for cell as llama.cpp allocates them."""

from __future__ import annotations

from ..gguf.model import ModelInfo
from ..load_settings import KV_CACHE_TYPES, LoadSettings

CTX_PAD = 256  # llama.cpp pads n_ctx (and the SWA cache) to a multiple of 256


def padded_ctx(n_ctx: int) -> int:
    return -(-n_ctx // CTX_PAD) * CTX_PAD


def row_bytes(type_name: str, n_elements: int) -> int:
    """Bytes of one row of ``n_elements`` in a GGML type (quantized types come in blocks)."""
    cache_type = KV_CACHE_TYPES[type_name]
    return n_elements // cache_type.block_size * cache_type.type_size


def cache_cells(model: ModelInfo, settings: LoadSettings, il: int) -> int:
    """Cells in layer ``il``'s cache: the padded context, or the sliding window's share."""
    size = padded_ctx(settings.n_ctx)
    if model.swa_layers[il] and not settings.swa_full:
        window = model.n_swa + settings.effective_n_ubatch
        return min(size, -(-window // CTX_PAD) * CTX_PAD)
    return size


def layer_kv_bytes(model: ModelInfo, settings: LoadSettings, il: int) -> tuple[int, int]:
    """(K bytes, V bytes) of layer ``il``'s cache."""
    cells = cache_cells(model, settings, il)
    k = row_bytes(settings.type_k, model.n_embd_k_gqa(il)) * cells
    v = row_bytes(settings.type_v, model.n_embd_v_gqa(il)) * cells
    return k, v


def kv_bytes_per_layer(model: ModelInfo, settings: LoadSettings) -> list[int]:
    """K + V bytes of every layer's cache (the hot path of an estimate)."""
    full = padded_ctx(settings.n_ctx)
    swa = full
    if not settings.swa_full and model.n_swa:
        swa = min(full, padded_ctx(model.n_swa + settings.effective_n_ubatch))
    k_type, v_type = KV_CACHE_TYPES[settings.type_k], KV_CACHE_TYPES[settings.type_v]
    out = []
    for il in range(model.n_layer):
        heads = model.n_head_kv[il]
        k_row = model.head_dim_k * heads // k_type.block_size * k_type.type_size
        v_row = model.head_dim_v * heads // v_type.block_size * v_type.type_size
        out.append((k_row + v_row) * (swa if model.swa_layers[il] else full))
    return out
