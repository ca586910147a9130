"""Split models (``name-00001-of-00003.gguf``) read as one model."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

from .errors import GGUFError, NotAModelError
from .file_kind import WHAT_IT_IS, kind_from_header
from .header import GGUFHeader, read_header
from .model import ModelInfo, describe

SPLIT_RE = re.compile(r"^(?P<stem>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")


def split_parts(path: str | os.PathLike[str]) -> list[Path]:
    """All files of the model ``path`` belongs to, in order; just ``[path]`` if not split."""
    path = Path(path)
    match = SPLIT_RE.match(path.name)
    if not match:
        return [path]
    count = int(match.group("count"))
    stem = match.group("stem")
    return [path.with_name(f"{stem}-{no:05d}-of-{count:05d}.gguf") for no in range(1, count + 1)]


def merge_split_headers(headers: list[GGUFHeader]) -> GGUFHeader:
    """One header for a split model: the first part's metadata, every part's tensors.

    Each tensor keeps its offset inside its own file and records the part in ``split``.
    """
    if not headers:
        raise GGUFError("a split model needs at least one part")
    first = headers[0]
    expected = first.metadata.get("split.count", len(headers))
    if expected != len(headers):
        raise GGUFError(f"the model is split into {expected} files, {len(headers)} were found")
    tensors = tuple(
        replace(tensor, split=index)
        for index, part in enumerate(headers)
        for tensor in part.tensors
    )
    sizes = [part.file_size for part in headers]
    complete = all(part.is_complete for part in headers)
    return replace(
        first,
        tensors=tensors,
        header_bytes_read=sum(part.header_bytes_read for part in headers),
        file_size=None if None in sizes else sum(s for s in sizes if s is not None),
        split_complete=complete,
    )


def _some(names: list[str], shown: int = 3) -> str:
    """A few names and how many more, so a split of 99,999 parts is still one short line."""
    listed = ", ".join(names[:shown])
    return listed if len(names) <= shown else f"{listed} and {len(names) - shown:,} more"


def read_model(path: str | os.PathLike[str]) -> ModelInfo:
    """Describe the model in a local GGUF file, reading every part of a split model.

    Raises `NotAModelError` for a projector, importance matrix or adapter (the header says so).
    """
    parts = split_parts(path)
    missing = [p.name for p in parts if not p.exists()] if len(parts) > 1 else []
    if missing:
        raise GGUFError(f"parts of this split model are missing: {_some(missing)}")
    first = read_header(parts[0])
    kind = kind_from_header(first.metadata)
    if kind != "model":
        raise NotAModelError(f"this file is not a model: {WHAT_IT_IS[kind].lower()}", kind)
    if len(parts) == 1:
        return describe(first)
    return describe(merge_split_headers([first] + [read_header(p) for p in parts[1:]]))
