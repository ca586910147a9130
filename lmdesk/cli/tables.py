"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from ..core.estimate import MemoryPlan
from ..core.units import format_size


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to width; the first left-aligned, the others right-aligned."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]

    def line(cells: Sequence[str]) -> str:
        parts = [str(cells[0]).ljust(widths[0])]
        parts += [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:], strict=False)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def layer_span(layers: Sequence[int], n_layer: int) -> str:
    blocks = [il for il in layers if il < n_layer]
    text = f"{blocks[0]}-{blocks[-1]}" if len(blocks) > 1 else (str(blocks[0]) if blocks else "")
    if n_layer in layers:
        text = f"{text} + output" if text else "output"
    return text or "-"


def plan_table(plan: MemoryPlan) -> str:
    rows = [
        [
            d.name,
            layer_span(d.layers, plan.n_layer),
            format_size(d.weights + d.repack),
            format_size(d.kv_cache),
            format_size(d.compute),
            format_size(d.output),
            format_size(d.overhead),
            format_size(d.total),
        ]
        for d in plan.devices
    ]
    headers = ["Device", "Layers", "Weights", "KV cache", "Compute", "Output", "Overhead", "Total"]
    return table(headers, rows)
