"""Numbers and text read from GGUF metadata, checked for type and range.

A header is untrusted input: a string, a list, NaN or 10^8 where the
estimator expects a layer count must end in a `GGUFError` that names the
key, never in an ``OverflowError``, a 6 GB allocation, or an abort inside
llama.cpp. The bounds follow the vendored llama.cpp where it has one
(``LLAMA_MAX_LAYERS``, ``LLAMA_MAX_EXPERTS``) and are otherwise far above
any real model.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import GGUFError, MissingKeyError

MAX_LAYERS = 512  # llama.cpp's LLAMA_MAX_LAYERS: more, and it aborts
MAX_EXPERTS = 1024  # llama.cpp's LLAMA_MAX_EXPERTS
MAX_EMBD = 1 << 20
MAX_HEADS = 1 << 14
MAX_HEAD_DIM = 1 << 16
MAX_CONTEXT = 1 << 30
MAX_VOCAB = 1 << 24
MAX_SHOWN = 60  # characters of a bad value quoted in a message


def shown(value: object) -> str:
    """A bad value for a message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def whole(meta: dict[str, Any], key: str, *, default: int | None, low: int, high: int) -> int:
    """The integer at ``key``, between ``low`` and ``high``; ``default`` when absent."""
    value = meta.get(key)
    if value is None:
        if default is None:
            raise MissingKeyError(
                f"the header has no {key}; this is not a model llama.cpp can load"
            )
        return default
    return _in_range(value, key, low, high)


def per_layer(
    meta: dict[str, Any], key: str, n_layer: int, *, default: int | None, high: int
) -> tuple[int, ...] | None:
    """One value per layer, from a number or a list of ``n_layer`` numbers; None when absent."""
    value = meta.get(key, default)
    if value is None:
        return None
    if isinstance(value, list):
        if len(value) != n_layer:
            raise GGUFError(f"{key} lists {len(value)} layers, the model has {n_layer}")
        return tuple(_in_range(v, key, 0, high) for v in value)
    return (_in_range(value, key, 0, high),) * n_layer


def finite(meta: dict[str, Any], key: str, *, low: float, high: float) -> float | None:
    """A real number at ``key``, finite and between ``low`` and ``high``; None when absent."""
    value = meta.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise GGUFError(f"{key} must be a number, not {shown(value)}")
    if not math.isfinite(value) or not low <= value <= high:
        raise GGUFError(f"{key} is {shown(value)}; it must be a number from {low:g} to {high:g}")
    return float(value)


def text(meta: dict[str, Any], key: str) -> str | None:
    """The string at ``key``; None when absent, empty or not a string."""
    value = meta.get(key)
    return value if isinstance(value, str) and value else None


def _in_range(value: object, key: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise GGUFError(f"{key} must be a whole number, not {shown(value)}")
    if not low <= value <= high:
        raise GGUFError(f"{key} is {value:,}; it must be from {low:,} to {high:,}")
    return value
