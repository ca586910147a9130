"""What a GPU looks like to lmdesk, and the what-if cards people can plan for.

A what-if card lets someone without that GPU (or without any GPU) ask "would
this model fit on a 16 GB card?". It is a `GpuInfo` like a real one, marked
`is_what_if`, so the estimator and the UI treat both the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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

    @property
    def usable_bytes(self) -> int:
        """Memory a model of lmdesk's can have here: what is free plus what lmdesk's own
        loaded model holds (a load replaces it). The one number every plan, verdict and
        Auto uses; equal to `free_bytes` while lmdesk holds nothing on this card."""
        return max(0, self.total_bytes - self.used_by_others_bytes)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _what_if(model: str, vram_gib: int) -> GpuInfo:
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
    )


#: Common NVIDIA cards with their VRAM as marketed (GiB), smallest model first.
WHAT_IF_CARDS: tuple[GpuInfo, ...] = tuple(
    _what_if(model, gib)
    for model, gib in (
        ("GeForce RTX 3060", 12),
        ("GeForce RTX 3070", 8),
        ("GeForce RTX 3080", 10),
        ("GeForce RTX 3090", 24),
        ("GeForce RTX 4060", 8),
        ("GeForce RTX 4060 Ti", 8),
        ("GeForce RTX 4060 Ti", 16),
        ("GeForce RTX 4070", 12),
        ("GeForce RTX 4070 Ti Super", 16),
        ("GeForce RTX 4080", 16),
        ("GeForce RTX 4090", 24),
        ("GeForce RTX 5060 Ti", 16),
        ("GeForce RTX 5070", 12),
        ("GeForce RTX 5080", 16),
        ("GeForce RTX 5090", 32),
        ("A100", 40),
        ("A100", 80),
        ("H100", 80),
    )
)


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
