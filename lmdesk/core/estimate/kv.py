"""KV cache sizes, cell for cell as llama.cpp allocates them."""

from __future__ import annotations

from ..gguf.model import ModelInfo
from ..load_settings import KV_CACHE_TYPES, LoadSettings
from .layer_kinds import is_mla, recurrent_state_bytes

CTX_PAD = 256  # llama.cpp pads n_ctx (and the SWA cache) to a multiple of 256


def padded_ctx(n_ctx: int) -> int:
    return -(-n_ctx // CTX_PAD) * CTX_PAD


def kv_bytes_per_layer(model: ModelInfo, settings: LoadSettings) -> list[int]:
    """K + V bytes of every layer's cache, plus a recurrent layer's state (the hot path).

    MLA layers cache K only; recurrent layers add their per-sequence state (`layer_kinds`).
    """
    full = padded_ctx(settings.n_ctx)
    swa = full  # cells of a sliding-window layer: the window plus a micro-batch, padded
    if not settings.swa_full and model.n_swa:
        swa = min(full, padded_ctx(model.n_swa + settings.effective_n_ubatch))
    k_type, v_type = KV_CACHE_TYPES[settings.type_k], KV_CACHE_TYPES[settings.type_v]
    has_v = not is_mla(model)
    state = recurrent_state_bytes(model)
    out = []
    for il in range(model.n_layer):
        heads = model.n_head_kv[il]
        k_row = model.head_dim_k * heads // k_type.block_size * k_type.type_size
        v_row = model.head_dim_v * heads // v_type.block_size * v_type.type_size if has_v else 0
        out.append((k_row + v_row) * (swa if model.swa_layers[il] else full) + state[il])
    return out
