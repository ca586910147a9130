"""What a GGUF file name says: its quantization and whether it is one part of a split model.

Publishers name files ``Model-8B-Instruct.Q4_K_M.gguf``, ``model-q8_0.gguf``,
``Model-IQ4_XS.gguf`` or, for models too large for one file,
``Model-Q8_0-00001-of-00003.gguf``. Pure functions, no network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Quantization labels as llama.cpp and the big publishers write them.
_QUANT = re.compile(
    r"(?:^|(?<=[-._ ]))"
    r"(?P<label>(?:UD-)?(?:I?Q\d(?:_[A-Z0-9]{1,3})*|BF16|F16|FP16|F32|FP32|TQ\d_\d|MXFP4(?:_MOE)?))"
    r"(?=$|[-. ])",
    re.IGNORECASE,
)
_SPLIT = re.compile(r"^(?P<base>.+)-(?P<part>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


def quantization_label(filename: str) -> str | None:
    """``'Llama-3-8B.Q4_K_M.gguf' -> 'Q4_K_M'``; None when the name does not say."""
    stem = filename.rsplit("/", 1)[-1]
    if stem.lower().endswith(".gguf"):
        stem = stem[: -len(".gguf")]
    split = _SPLIT.match(stem + ".gguf")
    if split:
        stem = split.group("base")
    matches = list(_QUANT.finditer(stem))
    if not matches:
        return None
    label = matches[-1].group("label").upper()
    return {"FP16": "F16", "FP32": "F32"}.get(label, label)


@dataclass(frozen=True)
class SplitName:
    """``base-00002-of-00005.gguf``: the base name, this part's number (1-based) and the count."""

    base: str
    part: int
    count: int


def split_name(filename: str) -> SplitName | None:
    """The split-file parts of a name, or None for a single-file model."""
    match = _SPLIT.match(filename)
    if not match:
        return None
    part, count = int(match.group("part")), int(match.group("count"))
    if not 1 <= part <= count:
        return None
    return SplitName(match.group("base"), part, count)
