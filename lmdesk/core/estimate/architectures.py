"""Architectures whose cache or compute the estimator does not model exactly.

The estimator models attention with a plain (or sliding-window) KV cache. Multi-head latent
attention (MLA) caches a compressed latent instead, and recurrent or hybrid models keep a
per-sequence state; for those the numbers are a rougher guess, and the panel and the CLI
say "approximate for this architecture" rather than printing a confident number.
"""

from __future__ import annotations

from ..gguf.model import ModelInfo

_NOT_EXACT = {
    **dict.fromkeys(("deepseek2", "minicpm3", "plm"), "MLA attention"),
    **dict.fromkeys(
        ("mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"), "a recurrent state"
    ),
    **dict.fromkeys(
        ("jamba", "falcon-h1", "granitehybrid", "lfm2", "lfm2moe", "qwen3next", "nemotron_h"),
        "a hybrid recurrent state",
    ),
}


def approximate_for(model: ModelInfo) -> str:
    """Why the estimate is only approximate for ``model``'s architecture; "" when it is exact."""
    reason = _NOT_EXACT.get(model.architecture)
    if reason is None:
        return ""
    return f"approximate for this architecture ({model.architecture}: {reason})"
