"""How fast a model will run: predicted from bytes and FLOPs, and measured.

`predict` turns a memory plan into tokens/s with the CPU's measured rates
(`cpu_speed`) and the GPUs' specs; `compare_cards` lays that out for every
what-if card; `core.speed.bench` measures the real figures and
`core.speed.results` keeps them.
"""

from .cpu_speed import CpuSpeed, cpu_speed, is_measured
from .predict import (
    GENERATED_TOKENS,
    PROMPT_TOKENS,
    Prediction,
    bench_depth,
    bench_prompt_tokens,
    predict,
)
from .work import model_work

__all__ = [
    "GENERATED_TOKENS",
    "PROMPT_TOKENS",
    "CpuSpeed",
    "Prediction",
    "bench_depth",
    "bench_prompt_tokens",
    "cpu_speed",
    "is_measured",
    "model_work",
    "predict",
]
