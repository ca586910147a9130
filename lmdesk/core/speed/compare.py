"""The article's table for any model: per card, the layers that fit and the speed they bring.

Layers come from `core.estimate.fit` (the same numbers as Auto, Discover and My
Models; with room for a paired vision projector, `fit_with_projector`); speeds from
`predict` over the plan `fit` returns.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from ..estimate.projector import ProjectorInfo, fit_with_projector
from ..gguf.model import ModelInfo
from ..gpus.cards import GpuInfo
from ..load_settings import LoadSettings
from ..units import format_size
from .cpu_speed import CpuSpeed
from .predict import Prediction, predict
from .words import rate, speedup


@dataclass(frozen=True)
class CardRow:
    card: GpuInfo
    gpu_layers: int
    n_layer: int
    prediction: Prediction

    @property
    def full_offload(self) -> bool:
        return self.gpu_layers == self.n_layer + 1

    @property
    def speedup(self) -> float | None:
        return speedup(self.prediction)


def compare_cards(
    model: ModelInfo,
    settings: LoadSettings,
    cpu: CpuSpeed,
    cards: Sequence[GpuInfo],
    *,
    margin: int,
    projector: ProjectorInfo | None = None,
) -> list[CardRow]:
    """One row per card: `fit`'s layer count for its usable memory (less the vision
    `projector`'s share when the model is paired with one) and the predicted speed."""
    rows = []
    for card in cards:
        result = fit_with_projector(
            model,
            settings,
            projector,
            gpu_free=card.usable_bytes,
            margin=margin,
            gpu_name=card.name,
        )
        rows.append(
            CardRow(
                card=card,
                gpu_layers=result.n_gpu_layers,
                n_layer=model.n_layer,
                prediction=predict(model, result.plan, cpu, [card]),
            )
        )
    return rows


HEADERS = ("Card", "Memory", "GPU layers", "Share", "Predicted tok/s", "Speed-up")


def row_cells(row: CardRow) -> tuple[str, ...]:
    """The table's cells in words (the dialog and the CSV say the same)."""
    tps = row.prediction.generation_tps
    up = row.speedup
    return (
        row.card.name + (" (what-if)" if row.card.is_what_if else ""),
        format_size(row.card.total_bytes),
        f"{row.gpu_layers} of {row.n_layer + 1}",
        f"{row.gpu_layers / (row.n_layer + 1):.0%}",
        "unknown" if tps is None else rate(tps),
        "" if up is None else f"{up:.1f}×",
    )


def to_csv(rows: Sequence[CardRow], *, cpu_only_tps: float) -> str:
    """The table as CSV, numbers unformatted, with a CPU-only row first."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["card", "memory_bytes", "gpu_layers", "n_layers", "generation_tps", "speedup"])
    writer.writerow(["CPU only", "", 0, "", f"{cpu_only_tps:.2f}", "1.00"])
    for row in rows:
        tps, up = row.prediction.generation_tps, row.speedup
        writer.writerow(
            [
                row.card.name,
                row.card.total_bytes,
                row.gpu_layers,
                row.n_layer + 1,
                "" if tps is None else f"{tps:.2f}",
                "" if up is None else f"{up:.2f}",
            ]
        )
    return out.getvalue()
