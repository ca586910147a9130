"""Parsed headers kept on disk, keyed by path, size and mtime: rescans parse only what changed."""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

from ..gguf import GGUFError, ModelInfo, NotAModelError, read_model
from ..gguf.file_kind import FileKind
from ..gguf.split import split_parts

CACHE_VERSION = 3  # 2: headers checked for types and ranges; 3: files that are not models
MAX_REASON = 300  # characters of an unexpected error shown in a row


@dataclass(frozen=True)
class Description:
    """What one file's header says: the model, or why it cannot be read, or what it is instead."""

    model: ModelInfo | None
    error: str | None = None
    kind: FileKind = "model"  # a projector, imatrix or adapter is not listed as a model


class DescribeCache:
    """``describe(path)`` says what the file is, from cache if fresh (a `Description`).

    The cache lives in lmdesk's own cache folder and holds only what lmdesk wrote
    there; a damaged entry is ignored and rebuilt.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0

    def _key(self, parts: list[Path]) -> str:
        stamp = []
        for part in parts:
            st = part.stat()
            stamp.append(f"{part.resolve()}:{st.st_size}:{st.st_mtime_ns}")
        return hashlib.sha256(f"{CACHE_VERSION}|{'|'.join(stamp)}".encode()).hexdigest()[:32]

    def describe(self, path: Path) -> Description:
        parts = split_parts(path)
        try:
            key = self._key(parts)
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python 3.11)
            return Description(None, f"cannot read the file ({_reason(exc)})")
        entry = self.folder / f"{key}.pickle"
        try:
            with entry.open("rb") as stream:
                cached = pickle.load(stream)
            if isinstance(cached, Description):
                self.hits += 1
                return cached
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
            pass
        self.misses += 1
        result: Description
        try:
            model = read_model(path)
            result = Description(
                model, None if model.is_complete is not False else _truncated(model)
            )
        except NotAModelError as exc:
            result = Description(None, str(exc), exc.kind)
        except GGUFError as exc:
            result = Description(None, str(exc))
        except Exception as exc:  # one file must never fail the whole scan; not cached
            return Description(None, f"cannot read the file ({_reason(exc)})")
        tmp = entry.with_suffix(".tmp")
        try:
            with tmp.open("wb") as stream:
                pickle.dump(result, stream)
            os.replace(tmp, entry)
        except OSError:
            tmp.unlink(missing_ok=True)
        return result


def _truncated(model: ModelInfo) -> str:
    missing = model.data_offset + sum(t.n_bytes for t in model.tensors) - model.file_size
    return f"the file is incomplete: {missing:,} bytes of tensor data are missing"


def _reason(exc: BaseException) -> str:
    text = (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."
