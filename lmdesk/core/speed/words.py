"""Predicted speeds in words, the same in the Load panel, the CLI and the compare table."""

from __future__ import annotations

from .predict import Prediction


def rate(tokens_per_s: float) -> str:
    """``14``, ``4.2``, ``0.35``: two significant figures are all a prediction is worth."""
    if tokens_per_s >= 10:
        return f"{tokens_per_s:,.0f}"
    if tokens_per_s >= 1:
        return f"{tokens_per_s:.1f}"
    return f"{tokens_per_s:.2f}"


def speed_line(prediction: Prediction) -> str:
    """``≈ 14 tok/s (CPU only: ≈ 4.2)``; without a GPU's speed, the CPU-only figure alone."""
    cpu_only = rate(prediction.cpu_only_generation_tps)
    if prediction.generation_tps is None:
        return f"Speed on this GPU unknown (CPU only: ≈ {cpu_only} tok/s)"
    if abs(prediction.generation_tps - prediction.cpu_only_generation_tps) < 1e-9:
        return f"≈ {cpu_only} tok/s (CPU only)"
    return f"≈ {rate(prediction.generation_tps)} tok/s (CPU only: ≈ {cpu_only})"


def speedup(prediction: Prediction) -> float | None:
    """How many times faster than on the CPU alone."""
    if prediction.generation_tps is None or prediction.cpu_only_generation_tps <= 0:
        return None
    return prediction.generation_tps / prediction.cpu_only_generation_tps
