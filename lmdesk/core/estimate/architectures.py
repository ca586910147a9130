"""Architectures whose cache or compute the estimator does not model exactly.

The KV cache of multi-head latent attention (K only: the latent) and the per-sequence state
of recurrent blocks are counted exactly (`layer_kinds`), but only some architectures' compute
buffers have been checked against llama.cpp; for the rest the panel and the CLI say
"approximate for this architecture" rather than printing a confident number.

- LFM2 (short convolutions + attention): every component within the bars (README, Accuracy).
- DeepSeek V2 (MLA): weights and KV exact; the CPU's compute is calibrated on one shape and
  misses the 5 % bar at small micro-batches without flash attention, so it stays approximate.
- Mamba, RWKV and the other hybrids: state sizes from their tensors, compute not checked.
"""

from __future__ import annotations

from ..gguf.model import ModelInfo

_NOT_EXACT = {
    **dict.fromkeys(("deepseek2", "minicpm3", "plm"), "MLA attention"),
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
