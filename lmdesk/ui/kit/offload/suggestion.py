"""Auto's answer in words: how many layers fit, and the longest context for full offload."""

from __future__ import annotations

from lmdesk.core.estimate import FitResult

APPLY_LINK = "apply"


def suggestion_html(
    result: FitResult, *, n_ctx: int, n_gpu_layers: int, n_ctx_train: int, n_cpu_moe: int = 0
) -> str:
    """One short line (rich text); its link applies the full-offload context when that helps."""
    if result.plan.experts_on_cpu:
        layers = f"Auto: {result.choice()}."
    else:
        layers = f"Auto: {result.n_gpu_layers} of {result.n_layer + 1} layers fit."
    best = result.max_full_offload_ctx
    if best <= 0:
        where = "these GPUs" if len(result.plan.gpus) > 1 else "this GPU"
        return f"{layers} No context length lets the whole model fit on {where}."
    full = f"Full offload up to {best:,} tokens of context"
    if best >= n_ctx_train > 0:
        full = f"Full offload fits even at the longest context ({n_ctx_train:,})"
    if n_ctx == best and n_gpu_layers == result.n_layer + 1 and n_cpu_moe == 0:
        return f"{layers} {full}."
    return f'{layers} {full}. <a href="{APPLY_LINK}">Use {best:,} with all layers</a>'
