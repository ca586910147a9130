"""What a GPU looks like to lmdesk, and the what-if cards people can plan for.

A what-if card lets someone without that GPU (or without any GPU) ask "would
this model fit on a 16 GB card?". It is a `GpuInfo` like a real one, marked
`is_what_if`, so the estimator and the UI treat both the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from lmdesk.core.units import GiB, format_size

#: What a desktop typically holds on the card before any model loads: the
#: compositor, the browser and the driver's own reservation.
WHAT_IF_RESERVED_BYTES = int(0.3 * GiB)

#: Prefix of a what-if card's `uuid`; the rest is a stable slug such as `rtx-4090-24gb`.
WHAT_IF_PREFIX = "what-if:"


@dataclass(frozen=True)
class GpuInfo:
    """One GPU's identity and memory at the moment it was read.

    `used_by_others_bytes` is memory lmdesk cannot get back by unloading its
    own model (other programs plus the driver's reservation); `usable_bytes` is
    the rest, what every plan and verdict counts on.
    """

    index: int
    name: str
    total_bytes: int
    free_bytes: int
    used_bytes: int
    used_by_others_bytes: int
    utilization_percent: int | None
    driver_version: str
    cuda_version: str
    uuid: str
    is_what_if: bool = False
    memory_bandwidth: float | None = None
    """Peak memory bandwidth in bytes/s (published spec, or NVML's bus width x memory clock)."""
    fp16_flops: float | None = None
    """Peak dense FP16 tensor throughput in FLOP/s (published spec); None when unknown."""

    @property
    def usable_bytes(self) -> int:
        """Memory a model of lmdesk's can have here: what is free plus what lmdesk's own
        loaded model holds (a load replaces it). The one number every plan, verdict and
        Auto uses; equal to `free_bytes` while lmdesk holds nothing on this card."""
        return max(0, self.total_bytes - self.used_by_others_bytes)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _what_if(model: str, vram_gib: int, spec: tuple[float, float]) -> GpuInfo:
    total = vram_gib * GiB
    reserved = min(WHAT_IF_RESERVED_BYTES, total)
    name = f"{model} {vram_gib} GB"
    return GpuInfo(
        index=-1,
        name=name,
        total_bytes=total,
        free_bytes=total - reserved,
        used_bytes=reserved,
        used_by_others_bytes=reserved,
        utilization_percent=None,
        driver_version="",
        cuda_version="",
        uuid=WHAT_IF_PREFIX + _slug(name),
        is_what_if=True,
        memory_bandwidth=spec[0] * 1e9,
        fp16_flops=spec[1] * 1e12,
    )


#: Common NVIDIA cards: VRAM as marketed (GiB), peak memory bandwidth (GB/s) and peak
#: dense FP16 tensor throughput (TFLOPS, FP16 accumulate), smallest model first.
#: Sources: NVIDIA's product pages and architecture whitepapers (Ampere GA102 whitepaper
#: appendix for the RTX 30 cards, "NVIDIA Ada GPU Architecture" appendix for the RTX 40
#: cards, "NVIDIA RTX Blackwell GPU Architecture" for the RTX 50 cards, the A100 and H100
#: datasheets: A100 80 GB is the SXM4 part (2,039 GB/s), H100 the SXM5 part). TechPowerUp's
#: GPU database lists the same bandwidths. Tensor figures are dense (no sparsity).
WHAT_IF_CARDS: tuple[GpuInfo, ...] = tuple(
    _what_if(model, gib, (bandwidth, tflops))
    for model, gib, bandwidth, tflops in (
        ("GeForce RTX 3060", 12, 360, 51.2),
        ("GeForce RTX 3070", 8, 448, 81.3),
        ("GeForce RTX 3080", 10, 760, 119.0),
        ("GeForce RTX 3090", 24, 936, 142.0),
        ("GeForce RTX 4060", 8, 272, 60.5),
        ("GeForce RTX 4060 Ti", 8, 288, 88.4),
        ("GeForce RTX 4060 Ti", 16, 288, 88.4),
        ("GeForce RTX 4070", 12, 504, 116.8),
        ("GeForce RTX 4070 Ti Super", 16, 672, 176.4),
        ("GeForce RTX 4080", 16, 717, 194.9),
        ("GeForce RTX 4090", 24, 1008, 330.3),
        ("GeForce RTX 5060 Ti", 16, 448, 94.9),
        ("GeForce RTX 5070", 12, 672, 123.5),
        ("GeForce RTX 5080", 16, 960, 225.1),
        ("GeForce RTX 5090", 32, 1792, 419.0),
        ("A100", 40, 1555, 312.0),
        ("A100", 80, 2039, 312.0),
        ("H100", 80, 3350, 989.0),
    )
)


@dataclass(frozen=True)
class WhatIfGroup:
    """Several what-if cards in one machine ("2 × GeForce RTX 3060 12 GB"), planned as that
    many GPUs: the layers split by each card's usable memory, as llama.cpp does."""

    name: str
    cards: tuple[GpuInfo, ...]

    @property
    def uuid(self) -> str:
        return WHAT_IF_PREFIX + _slug(self.name)


def _card(name: str) -> GpuInfo:
    return next(card for card in WHAT_IF_CARDS if card.name == name)


def _group(*names: str) -> WhatIfGroup:
    cards = tuple(replace(_card(name), index=i) for i, name in enumerate(names))
    same = len(set(names)) == 1
    title = f"{len(names)} × {names[0]}" if same else " + ".join(names)
    return WhatIfGroup(title, cards)


#: Common pairs people build: two of a cheap card, or an old card beside a new one.
WHAT_IF_PAIRS: tuple[WhatIfGroup, ...] = (
    _group("GeForce RTX 3060 12 GB", "GeForce RTX 3060 12 GB"),
    _group("GeForce RTX 3060 12 GB", "GeForce RTX 4060 8 GB"),
    _group("GeForce RTX 4060 Ti 16 GB", "GeForce RTX 4060 Ti 16 GB"),
    _group("GeForce RTX 3090 24 GB", "GeForce RTX 3090 24 GB"),
    _group("GeForce RTX 4090 24 GB", "GeForce RTX 4090 24 GB"),
)


def find_what_if_group(key: str) -> WhatIfGroup | None:
    """The what-if pair whose uuid or name is `key` (as remembered in settings), or None."""
    return next((g for g in WHAT_IF_PAIRS if key in (g.uuid, g.name)), None)


def published_spec(name: str) -> GpuInfo | None:
    """The what-if card whose model name a real card's NVML name carries (longest match),
    for its published FP16 throughput: ``NVIDIA GeForce RTX 4090`` -> the RTX 4090 24 GB."""

    def model(card: GpuInfo) -> str:
        return card.name.rsplit(" ", 2)[0]  # "GeForce RTX 4060 Ti 16 GB" -> "GeForce RTX 4060 Ti"

    matches = [card for card in WHAT_IF_CARDS if model(card).lower() in name.lower()]
    return max(matches, key=lambda c: len(model(c)), default=None)


def custom_card(total_bytes: int, name: str | None = None) -> GpuInfo:
    """A what-if card of any size, for cards missing from `WHAT_IF_CARDS`."""
    if isinstance(total_bytes, bool) or not isinstance(total_bytes, int) or total_bytes <= 0:
        raise ValueError(
            f"a custom card needs a positive memory size in bytes, not {total_bytes!r}"
        )
    reserved = min(WHAT_IF_RESERVED_BYTES, total_bytes)
    return GpuInfo(
        index=-1,
        name=name or f"Custom {format_size(total_bytes)} card",
        total_bytes=total_bytes,
        free_bytes=total_bytes - reserved,
        used_bytes=reserved,
        used_by_others_bytes=reserved,
        utilization_percent=None,
        driver_version="",
        cuda_version="",
        uuid=f"{WHAT_IF_PREFIX}custom-{total_bytes}",
        is_what_if=True,
    )


def find_what_if(key: str) -> GpuInfo | None:
    """The what-if card whose uuid or name is `key` (as remembered in settings), or None.

    `what-if:custom-<bytes>` rebuilds the custom card of that size.
    """
    for card in WHAT_IF_CARDS:
        if key in (card.uuid, card.name):
            return card
    custom = re.fullmatch(re.escape(WHAT_IF_PREFIX) + r"custom-(\d+)", key)
    if custom and int(custom.group(1)) > 0:
        return custom_card(int(custom.group(1)))
    return None
