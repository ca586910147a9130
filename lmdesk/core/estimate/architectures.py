"""Architectures whose cache or compute the estimator does not model exactly.

The KV cache of multi-head latent attention (K only: the latent) and the per-sequence state
of recurrent blocks are counted exactly (`layer_kinds`), but only some architectures' compute
buffers have been checked against llama.cpp; for the rest the panel and the CLI say
"approximate for this architecture" rather than printing a confident number.

- LFM2 (short convolutions + attention): every component within the bars (README, Accuracy).
- DeepSeek V2/V3 (MLA, ``deepseek2``): weights and KV exact, compute within the bars on the
  DeepSeek-V2-Lite shape (its CPU-only rule is calibrated there). MiniCPM3 and PLM use MLA
  without llama.cpp's split ``attn_k_b`` / ``attn_v_b`` and are not checked.
- Mamba, RWKV and the other hybrids: state sizes from their tensors, compute not checked.
"""

from __future__ import annotations

from ..gguf.model import ModelInfo

_NOT_EXACT = {
    **dict.fromkeys(("minicpm3", "plm"), "MLA attention"),
    **dict.fromkeys(
        ("mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"), "a recurrent state"
    ),
    **dict.fromkeys(
        ("jamba", "falcon-h1", "granitehybrid", "lfm2moe", "qwen3next", "nemotron_h"),
        "a hybrid recurrent state",
    ),
}


def approximate_for(model: ModelInfo) -> str:
    """Why the estimate is only approximate for ``model``'s architecture; "" when it is exact."""
    reason = _NOT_EXACT.get(model.architecture)
    if reason is None:
        return ""
    return f"approximate for this architecture ({model.architecture}: {reason})"
