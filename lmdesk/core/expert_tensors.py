"""Which tensors are a layer's experts: the one rule the estimator and the engine share.

A mixture-of-experts layer keeps its experts stacked in ``blk.N.ffn_{up,down,gate}_exps``
(with their biases, and ``gate_up``/``_chexps`` variants in some architectures). llama.cpp's
``--n-cpu-moe N`` keeps those tensors of the first N layers in system RAM; the router
(``ffn_gate_inp``), shared experts (``_shexp``) and attention stay with their layer.
"""

from __future__ import annotations

import re

EXPERTS = r"ffn_(up|down|gate|gate_up)_(ch|)exps"
_EXPERT_TENSOR = re.compile(rf"^blk\.(\d+)\.{EXPERTS}")


def expert_layer(tensor_name: str) -> int | None:
    """The layer whose experts ``tensor_name`` holds (``blk.3.ffn_up_exps.weight``: 3), or None."""
    match = _EXPERT_TENSOR.match(tensor_name)
    return int(match.group(1)) if match else None


def cpu_experts_pattern(n_cpu_moe: int) -> str | None:
    """One regular expression (ECMAScript, as llama.cpp's std::regex reads it) for the experts
    of layers 0..n_cpu_moe-1; None when there are none."""
    if n_cpu_moe <= 0:
        return None
    layers = "|".join(str(il) for il in range(n_cpu_moe))
    return rf"^blk\.({layers})\.{EXPERTS}"
