"""A plan judged against a GPU's free memory: fits, tight, or will not fit, in words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum

from ..units import format_size
from .plan import MemoryPlan


class Fit(Enum):
    """The one vocabulary of verdicts, for the Load panel's chosen settings (`judge`) and for a
    model's best plan on a card (`model_verdict`)."""

    FITS = "fits"
    """Everything planned for the GPU fits with the safety margin to spare (full offload,
    for a model's verdict)."""
    PARTIAL = "partial"
    """The best plan puts only some layers on the GPU, the rest in system RAM."""
    TIGHT = "tight"
    """It fits, but with less than the safety margin to spare."""
    NO_FIT = "no_fit"
    """It does not fit: not in the GPU's memory, or not in system RAM."""
    CPU_ONLY = "cpu_only"
    """No layer on the GPU."""


@dataclass(frozen=True)
class Verdict:
    fit: Fit
    spare: int  # bytes left on the GPU (negative: missing)
    headline: str
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {
            "fit": self.fit.value,
            "spare": self.spare,
            "headline": self.headline,
            "detail": self.detail,
        }


def _judge(plan: MemoryPlan, *, gpu_free: int | Sequence[int] | None, margin: int) -> Verdict:
    if plan.refused:
        return Verdict(
            Fit.NO_FIT, 0, "Will not load", f"{plan.refused[0].upper()}{plan.refused[1:]}."
        )
    several = len(plan.gpus) > 1
    devices = "the GPUs" if several else "the GPU"
    layers = f"{plan.n_gpu_layers} of {plan.n_layer + 1} layers on {devices}"
    if plan.experts_on_cpu:
        layers += f" (the experts of {plan.experts_on_cpu} layers in system RAM)"
    if gpu_free is None or not plan.gpus or plan.n_gpu_layers == 0:
        return Verdict(
            Fit.CPU_ONLY,
            0,
            "Runs on the CPU",
            "No layers on the GPU: everything stays in system RAM.",
        )
    if isinstance(gpu_free, int):
        spare = gpu_free - plan.gpu_total
    else:
        spare = min(free - d.total for d, free in zip(plan.gpus, gpu_free, strict=True))
    rest = "" if plan.full_offload else ", the rest on the CPU"
    if spare < 0:
        return Verdict(
            Fit.NO_FIT,
            spare,
            f"Will not fit · {format_size(-spare)} short",
            f"{layers}{rest} needs more than {devices} {'have' if several else 'has'} free. "
            "Lower the GPU layers "
            "or the context, or use a smaller KV cache type.",
        )
    if spare < margin:
        return Verdict(
            Fit.TIGHT,
            spare,
            f"Tight · {format_size(spare)} to spare",
            f"{layers}{rest}. Less than the {format_size(margin)} safety margin is "
            "left; other programs may push it out of memory.",
        )
    return Verdict(Fit.FITS, spare, f"Fits · {format_size(spare)} to spare", f"{layers}{rest}.")


def judge(plan: MemoryPlan, *, gpu_free: int | Sequence[int] | None, margin: int) -> Verdict:
    """Judge ``plan``'s GPU share against ``gpu_free`` bytes, keeping ``margin`` in reserve.

    With several GPUs, ``gpu_free`` holds each one's free bytes in the plan's order, and the
    tightest GPU decides. For an architecture the estimate does not model exactly, the
    headline starts with "≈" and the detail says so.
    """
    verdict = _judge(plan, gpu_free=gpu_free, margin=margin)
    if not plan.approximate:
        return verdict
    note = f"{plan.approximate[0].upper()}{plan.approximate[1:]}."
    return replace(verdict, headline=f"≈ {verdict.headline}", detail=f"{verdict.detail} {note}")
